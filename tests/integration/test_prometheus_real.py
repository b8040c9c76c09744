"""A real Prometheus scrapes the exporter; PromQL gives back what the sampler read."""

from collections import defaultdict

import pytest

pytestmark = pytest.mark.integration

JOB = "course-gpus"


def _by_gpu(result) -> dict[str, float]:
    return {r["metric"]["gpu"]: float(r["value"][1]) for r in result}


def test_every_target_is_up(stack):
    targets = stack.prometheus.targets()
    assert sorted(t["job"] for t in targets) == ["course-gpus", "other-job"]
    assert all(t["health"] == "up" for t in targets), targets
    up = stack.prometheus.query("up")
    assert {r["metric"]["job"]: r["value"][1] for r in up} == {"course-gpus": "1", "other-job": "1"}


@pytest.mark.parametrize(
    ("metric", "field"),
    [
        ("DCGM_FI_DEV_POWER_USAGE", "power_w"),
        ("DCGM_FI_DEV_GPU_UTIL", "utilization_pct"),
        ("DCGM_FI_DEV_FB_USED", "memory_used_mib"),
        ("DCGM_FI_DEV_GPU_TEMP", "temperature_c"),
        ("DCGM_FI_DEV_SM_CLOCK", "sm_clock_mhz"),
    ],
)
def test_each_scrape_holds_one_snapshot_the_sampler_took(stack, metric, field):
    """Every sample Prometheus stored, for all 4 GPUs at one scrape time, equals
    the values of one snapshot in the sampler's history (exactly: the text
    format and the API keep every digit)."""
    sampler = stack.samplers[JOB]
    result = stack.prometheus.query(f'{metric}{{job="{JOB}"}}[1m]')
    assert len(result) == 4
    scrapes: dict[float, dict[str, float]] = defaultdict(dict)
    for series in result:
        for stamp, value in series["values"]:
            scrapes[stamp][series["metric"]["gpu"]] = float(value)
    history = [{str(g.index): g.metric(field) for g in snap.gpus} for snap in list(sampler.history)]
    assert len(scrapes) >= 3
    for stamp, values in scrapes.items():
        assert len(values) == 4
        assert any(values == {k: pytest.approx(v, rel=1e-12) for k, v in snap.items()} for snap in history), (
            f"scrape at {stamp}: {values} is no snapshot the sampler took"
        )
    if field == "power_w":  # the trace moves: a frozen exporter would repeat one value
        assert len({tuple(sorted(v.items())) for v in scrapes.values()}) >= 2


def test_the_latest_values_match_the_sampler_now(stack):
    """An instant query (what a Grafana stat panel shows) against the sampler's
    own recent snapshots: the scrape is at most a second behind."""
    sampler = stack.samplers[JOB]
    util = _by_gpu(stack.prometheus.query(f'DCGM_FI_DEV_GPU_UTIL{{job="{JOB}"}}'))
    recent = [{str(g.index): g.utilization_pct for g in s.gpus} for s in sampler.window(5.0 * 2)]
    assert util in recent


def test_labels_say_simulated_and_follow_dcgm_exporter(stack):
    result = stack.prometheus.query(f'DCGM_FI_DEV_GPU_TEMP{{job="{JOB}"}}')
    uuids = {str(g.index): g.uuid for g in stack.samplers[JOB].latest.gpus}
    for r in result:
        labels = r["metric"]
        assert labels["simulated"] == "true"
        assert labels["UUID"] == uuids[labels["gpu"]]
        assert labels["modelName"] == "NVIDIA H200 (simulated)"
        assert labels["device"] == f"nvidia{labels['gpu']}" and labels["Hostname"]
        assert "pci_bus_id" not in labels  # empty for simulated GPUs: Prometheus drops empty labels


def test_per_job_aggregation(stack):
    counts = stack.prometheus.query("count by (job) (DCGM_FI_DEV_GPU_UTIL)")
    assert {r["metric"]["job"]: r["value"][1] for r in counts} == {"course-gpus": "4", "other-job": "2"}
    power = stack.prometheus.query('sum by (job) (DCGM_FI_DEV_POWER_USAGE{job="other-job"})')
    sums = [sum(g.power_w for g in s.gpus) for s in stack.samplers["other-job"].window(10.0)]
    assert any(float(power[0]["value"][1]) == pytest.approx(total, rel=1e-9) for total in sums)


def test_per_process_memory_reaches_prometheus(stack):
    result = stack.prometheus.query(f'course_gpu_process_memory_used_bytes{{job="{JOB}"}}')
    seen = {(p.gpu_index, p.pid) for s in stack.samplers[JOB].history if s.processes for p in s.processes}
    assert result
    for r in result:
        assert (int(r["metric"]["gpu"]), int(r["metric"]["pid"])) in seen


def test_a_bad_query_is_an_error_that_quotes_prometheus(stack):
    from course_utils.telemetry.promserver import PromQLError

    with pytest.raises(PromQLError, match="bad_data"):
        stack.prometheus.query("sum by (gpu (DCGM_FI_DEV_GPU_UTIL)")


def test_the_memory_exercise_against_the_real_prometheus(stack):
    from course_utils.exercises.cluster import check_memory_pct_query

    sampler, url = stack.samplers[JOB], stack.prometheus.url
    right = '100 * DCGM_FI_DEV_FB_USED{job="course-gpus"} / DCGM_FI_DEV_FB_TOTAL{job="course-gpus"}'
    assert check_memory_pct_query(right, url, sampler).ok
    assert min(g.memory_used_pct for g in sampler.latest.gpus) > 5  # the trace's job holds memory
    free_only = '100 * DCGM_FI_DEV_FB_USED{job="course-gpus"} / DCGM_FI_DEV_FB_FREE{job="course-gpus"}'
    assert not check_memory_pct_query(free_only, url, sampler).ok
    summed = 'sum(DCGM_FI_DEV_FB_USED{job="course-gpus"})'
    assert "gpu" in check_memory_pct_query(summed, url, sampler).message
    assert "refused" in check_memory_pct_query("100 * (DCGM_FI_DEV_FB_USED", url, sampler).message
