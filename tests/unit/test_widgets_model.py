"""The dashboard model: history, windows, alerts, processes; no Jupyter needed."""

from __future__ import annotations

import gc
import subprocess
import sys
import types

import pytest

from course_utils.telemetry import GpuSample, ProcessSample, Sampler, SimulatedBackend, Snapshot
from course_utils.widgets.binning import BinnedSeries
from course_utils.widgets.model import CHARTS, GIB, DashboardModel

T0 = 1_767_225_600.0


def gpu(t, index=0, used_gib=10.0, total_gib=100.0, util=50.0, power=300.0, limit=700.0, temp=50.0, clock=1800.0, **kw):
    return GpuSample(
        timestamp=t,
        index=index,
        uuid=f"GPU-{index}",
        name="Test GPU",
        memory_used_bytes=None if used_gib is None else int(used_gib * GIB),
        memory_total_bytes=int(total_gib * GIB),
        utilization_pct=util,
        memory_busy_pct=20.0,
        temperature_c=temp,
        power_w=power,
        power_limit_w=limit,
        sm_clock_mhz=clock,
        **kw,
    )


def snap(t, *gpus, processes=None):
    return Snapshot(timestamp=t, source="nvml", gpus=tuple(gpus), processes=processes)


def feed(model, backend, n):
    for _ in range(n):
        model(backend.snapshot(processes=True))


def test_rows_show_the_latest_reading_and_none_stays_none():
    m = DashboardModel(interval=0.5)
    m(snap(T0, gpu(T0, used_gib=50.0, util=80.0, power=None)))
    (row,) = m.rows()
    assert row.memory_used_gib == pytest.approx(50.0)
    assert row.memory_used_pct == pytest.approx(50.0)
    assert row.utilization_pct == 80.0
    assert row.power_w is None and row.power_pct is None  # unsupported, not 0
    assert row.memory_busy_pct == 20.0  # kept apart from how full memory is


def test_window_charts_have_fixed_points_and_mean_per_bin():
    m = DashboardModel(interval=0.25, points=120)
    # utilisation alternates 0/100 every sample: a 0.5 s bin holds one of each, so its mean is 50
    for i in range(4 * 70):
        t = T0 + i * 0.25
        m(snap(t, gpu(t, util=100.0 * (i % 2), used_gib=10.0 + (i % 2))))
    (chart,) = m.charts("load", "1 min")
    assert chart.bin_s == 0.5 and chart.window_s == 60.0
    mem_pct, util, _power = chart.values
    assert len(util) == 120
    assert all(v == pytest.approx(50.0) for v in util)
    assert all(v == pytest.approx(11.0) for v in mem_pct)  # memory takes the peak of a bin, not the mean
    (five,) = m.charts("load", "5 min")
    assert five.bin_s == 2.5
    filled = [v for v in five.values[1] if v is not None]
    assert 25 <= len(filled) <= 28  # 70 s of data in 2.5 s bins; the rest of the 5 minutes is empty


def test_bins_never_narrower_than_the_sampling_interval():
    m = DashboardModel(interval=2.0)
    for i in range(40):
        t = T0 + 2.0 * i
        m(snap(t, gpu(t)))
    (chart,) = m.charts("load", "1 min")
    assert chart.bin_s == 2.0
    assert len(chart.values[0]) == 30
    assert None not in chart.values[1]  # no holes although samples are as far apart as the bins


def test_a_pause_in_sampling_shows_as_a_break():
    m = DashboardModel(interval=0.5)
    for i in range(60):
        t = T0 + 0.5 * i
        m(snap(t, gpu(t)))
    for i in range(40):  # 20 s later: nothing was recorded in between
        t = T0 + 50.0 + 0.5 * i
        m(snap(t, gpu(t)))
    util = m.charts("load", "1 min")[0].values[1]
    gap = [i for i, v in enumerate(util) if v is None]
    assert len(gap) >= 35  # ~20 s of 0.5 s bins, minus the bridged jitter at its edge
    assert gap == list(range(gap[0], gap[-1] + 1))  # one hole, in the middle
    assert util[0] is not None and util[-1] is not None


def test_unknown_window_or_chart_names_the_choices():
    m = DashboardModel()
    with pytest.raises(ValueError, match="1 min, 5 min, 15 min, 1 h"):
        m.window = "2 min"
    with pytest.raises(ValueError, match="load"):
        m.chart = "pcie"
    with pytest.raises(ValueError, match="interval"):
        DashboardModel(interval=0)
    assert m.window == "1 min"


def test_alert_raised_above_90_percent_memory_and_cleared_with_hysteresis():
    m = DashboardModel(interval=0.5)
    versions = [m.alert_version]
    for i, used in enumerate([50, 91, 95, 88, 84, 50]):
        t = T0 + i
        m(snap(t, gpu(t, used_gib=used), gpu(t, index=1, used_gib=10)))
        versions.append(m.alert_version)
        rows = {r.index: r for r in m.rows()}
        if used in (91, 95, 88):
            assert rows[0].alerts == ("memory > 90%",)
            assert [(e.gpu, e.rule.name) for e in m.active_alerts] == [(0, "memory > 90%")]
        else:
            assert rows[0].alerts == ()
        assert rows[1].alerts == ()
    assert versions == [0, 0, 1, 1, 1, 2, 2]  # changes on raise and on clear only
    frame = m.frame()
    assert [e.state for e in frame.recent_events] == ["raised", "cleared"]


def test_failed_gpu_is_marked_and_the_others_keep_reporting():
    m = DashboardModel(interval=0.5)
    t = T0
    m(snap(t, gpu(t), GpuSample(t, 1, "GPU-1", "Test GPU", healthy=False, error="NVMLError_GpuIsLost")))
    rows = {r.index: r for r in m.rows()}
    assert rows[0].healthy and not rows[1].healthy
    assert "GPU failed" in rows[1].alerts
    assert rows[1].error == "NVMLError_GpuIsLost"


def test_process_rows_sorted_and_host_pids_explained():
    m = DashboardModel(interval=0.5)
    procs = (
        ProcessSample(0, 10, 1 * GIB, "python", True),
        ProcessSample(0, 99, 5 * GIB, None, False),
        ProcessSample(1, 7, None, None, False),
    )
    assert m.processes() is None
    m(snap(T0, gpu(T0), gpu(T0, index=1), processes=procs))
    rows = m.processes()
    assert [(r.gpu, r.pid) for r in rows] == [(0, 99), (0, 10), (1, 7)]
    assert "host PID" in rows[0].name and not rows[0].visible
    assert rows[1].name == "python"
    assert rows[2].used_memory_mib is None
    v = m.process_version
    m(snap(T0 + 1, gpu(T0 + 1), gpu(T0 + 1, index=1)))  # a tick without a process read keeps the table
    assert m.processes() == rows and m.process_version == v


def test_max_gpus_and_gpu_selection():
    t = T0
    many = [gpu(t, index=i) for i in range(10)]
    m = DashboardModel(interval=0.5)
    m(snap(t, *many))
    assert [r.index for r in m.rows()] == list(range(8))
    assert m.frame().hidden_gpus == 2
    picked = DashboardModel(interval=0.5, gpus=[9, 3])
    picked(snap(t, *many))
    assert [r.index for r in picked.rows()] == [3, 9]
    assert picked.frame().hidden_gpus == 0


def test_fed_by_a_sampler_subscription_and_detached():
    backend = SimulatedBackend(2, seed=1, step_s=0.5)
    sampler = Sampler(backend, interval=0.5, name=None)
    m = DashboardModel(interval=0.5).attach(sampler)
    for _ in range(5):
        sampler.sample_once()
    assert m.samples == 5 and m.source == "simulated" and "SIMULATED" in m.label
    assert [r.simulated for r in m.rows()] == [True, True]
    m.detach()
    sampler.sample_once()
    assert m.samples == 5
    assert not sampler.subscriber_errors


def test_chart_y_axis_rules():
    m = DashboardModel(interval=0.5)
    for i in range(10):
        t = T0 + i
        m(snap(t, gpu(t, total_gib=141.0, limit=700.0, temp=60.0, clock=1980.0)))
    assert m.charts("memory")[0].y_max == pytest.approx(141.0)
    assert m.charts("power")[0].y_max == 700.0
    assert m.charts("temperature")[0].y_max == 90.0  # the floor, as the data stays below it
    assert m.charts("clock")[0].y_max == pytest.approx(1980.0 * 1.05)
    assert set(CHARTS) == {"load", "memory", "power", "temperature", "clock"}


def deep_size(root) -> int:
    """Bytes reachable from ``root`` (classes, modules and functions excluded)."""
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def test_history_is_bounded_over_an_hour():
    """1.5 hours of step_s snapshots: the model stops growing once its longest window (1 h) is full."""
    step = 2.0
    m = DashboardModel(interval=step)
    backend = SimulatedBackend(2, seed=3, step_s=step)
    sizes = []
    for minutes in range(0, 91, 15):
        if minutes:
            feed(m, backend, int(15 * 60 / step))
        sizes.append((minutes, m.memory_footprint(), deep_size(m)))
    assert m.samples == int(90 * 60 / step)
    values = {minutes: v for minutes, v, _ in sizes}
    nbytes = {minutes: b for minutes, _, b in sizes}
    assert values[15] < values[30] < values[45] < values[60]  # the 1 h window fills up...
    assert values[60] == values[75] == values[90]  # ...then stays full: flat
    assert max(nbytes[75], nbytes[90]) <= nbytes[60] * 1.02, sizes
    for series in m._gpus[0].by_window.values():
        assert len(series) <= series.n_bins


def test_binned_series_drops_samples_from_the_past_and_bridges_jitter():
    s = BinnedSeries(1.0, 10, ("x",), ("mean",))
    for t, v in [(0.1, 1.0), (1.2, 2.0), (0.5, 99.0), (3.1, 4.0), (4.0, 5.0)]:  # bin 2 is empty (jitter)
        s.add(t, (v,))
    assert s.slots("x", max_gap_bins=1)[-4:] == [1.0, 2.0, 2.0, 4.0]
    assert s.slots("x", max_gap_bins=0)[-4:] == [1.0, 2.0, None, 4.0]
    with pytest.raises(ValueError):
        BinnedSeries(0, 10, ("x",), ("mean",))


def test_model_imports_without_jupyter():
    code = (
        "import sys\n"
        "for name in ('ipywidgets', 'IPython', 'ipykernel', 'comm'):\n"
        "    sys.modules[name] = None\n"
        "from course_utils.widgets import DashboardModel\n"
        "from course_utils.widgets.render import charts_html\n"
        "from course_utils.telemetry import SimulatedBackend\n"
        "m = DashboardModel(interval=0.5)\n"
        "b = SimulatedBackend(2, step_s=0.5)\n"
        "for _ in range(20): m(b.snapshot())\n"
        "assert 'cud-card' in charts_html(m.charts())\n"
        "try:\n"
        "    from course_utils.widgets import Dashboard\n"
        "except ImportError as exc:\n"
        "    print('IMPORT-ERROR', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "IMPORT-ERROR" in out.stdout and "DashboardModel" in out.stdout
