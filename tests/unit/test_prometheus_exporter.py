"""The Prometheus exporter: dcgm-exporter's names, values from the sampler's
snapshot, and no backend call per scrape."""

import socket
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.fake_nvml import FakeNvml

from course_utils.cli import main as cli_main
from course_utils.telemetry import NvmlBackend, Sampler, SimulatedBackend
from course_utils.telemetry.prometheus import GPU_METRICS, parse_address, start_exporter
from course_utils.units import MIB


class CountingBackend:
    """The simulated backend, counting every call that would reach a GPU."""

    kind = "simulated"

    def __init__(self, n_gpus=4):
        self.inner = SimulatedBackend(n_gpus, seed=3, step_s=0.5)
        self.snapshots = 0

    def snapshot(self, processes=False):
        self.snapshots += 1
        return self.inner.snapshot(processes=processes)

    def devices(self):
        return self.inner.devices()


def scrape(url) -> dict[str, list]:
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(body)}


@pytest.fixture
def counted():
    backend = CountingBackend(4)
    sampler = Sampler(backend, interval=1.0, name=None, processes_every=1)
    for _ in range(25):  # ~12 s of the trace: a job has started and holds memory
        sampler.sample_once()
    exporter = start_exporter(sampler, "127.0.0.1:0", max_age_s=60)
    yield backend, sampler, exporter
    exporter.stop()


def test_a_scrape_reads_the_snapshot_and_never_the_backend(counted):
    backend, sampler, exporter = counted
    before = backend.snapshots
    for _ in range(5):
        metrics = scrape(exporter.url)
    assert backend.snapshots == before
    assert exporter.collector.scrapes == 5
    snap = sampler.latest
    util = {s.labels["gpu"]: s.value for s in metrics["DCGM_FI_DEV_GPU_UTIL"]}
    used = {s.labels["gpu"]: s.value for s in metrics["DCGM_FI_DEV_FB_USED"]}
    power = {s.labels["gpu"]: s.value for s in metrics["DCGM_FI_DEV_POWER_USAGE"]}
    assert util == {str(g.index): g.utilization_pct for g in snap.gpus}
    assert used == pytest.approx({str(g.index): g.memory_used_bytes / MIB for g in snap.gpus})
    assert power == {str(g.index): g.power_w for g in snap.gpus}
    assert max(used.values()) > 1000  # a job holds memory: not a trace of idle zeros


def test_dcgm_exporter_names_labels_and_a_simulated_label(counted):
    _, sampler, exporter = counted
    metrics = scrape(exporter.url)
    for name, _, _ in GPU_METRICS:
        assert len(metrics[name]) == 4, name
    sample = metrics["DCGM_FI_DEV_GPU_TEMP"][0]
    for label in ("gpu", "UUID", "device", "modelName", "Hostname"):
        assert sample.labels[label], label
    assert sample.labels["simulated"] == "true"
    assert sample.labels["device"] == f"nvidia{sample.labels['gpu']}"
    assert sample.labels["UUID"] == sampler.latest.gpus[int(sample.labels["gpu"])].uuid
    g = sampler.latest.gpus[0]
    free = {s.labels["gpu"]: s.value for s in metrics["DCGM_FI_DEV_FB_FREE"]}["0"]
    assert free == pytest.approx((g.memory_total_bytes - g.memory_used_bytes - g.memory_reserved_bytes) / MIB)


def test_per_process_memory_is_its_own_metric(counted):
    _, sampler, exporter = counted
    procs = scrape(exporter.url)["course_gpu_process_memory_used_bytes"]
    expected = {(str(p.gpu_index), str(p.pid)): p.used_memory_bytes for p in sampler.latest.processes}
    assert expected  # the trace has a job running: one process per GPU
    assert {(s.labels["gpu"], s.labels["pid"]): s.value for s in procs} == expected


def test_real_gpus_through_nvml_are_not_labelled_simulated_and_scrapes_make_no_nvml_call():
    nvml = FakeNvml(n_gpus=2, processes={0: [(1234, 512 * MIB)]})
    backend = NvmlBackend(nvml=nvml)
    sampler = Sampler(backend, interval=1.0, name=None, processes_every=1)
    sampler.sample_once()
    calls = sum(nvml.calls.values())
    with start_exporter(sampler, ":0", max_age_s=60) as exporter:
        metrics = scrape(exporter.url)
        scrape(exporter.url)
    assert sum(nvml.calls.values()) == calls
    assert {s.labels["simulated"] for s in metrics["DCGM_FI_DEV_GPU_UTIL"]} == {"false"}
    assert [s.value for s in metrics["course_gpu_process_memory_used_bytes"]] == [512 * MIB]
    backend.close()


def test_a_failed_gpu_reports_unhealthy_and_no_values():
    nvml = FakeNvml(n_gpus=2)
    nvml.fail("nvmlDeviceGetUtilizationRates", 15, gpu=1)  # GpuIsLost
    backend = NvmlBackend(nvml=nvml)
    sampler = Sampler(backend, interval=1.0, name=None)
    sampler.sample_once()
    with start_exporter(sampler, ":0", max_age_s=60) as exporter:
        metrics = scrape(exporter.url)
    assert {s.labels["gpu"]: s.value for s in metrics["course_gpu_healthy"]} == {"0": 1.0, "1": 0.0}
    assert {s.labels["gpu"] for s in metrics["DCGM_FI_DEV_GPU_UTIL"]} == {"0"}
    backend.close()


def test_a_stale_snapshot_is_not_published():
    sampler = Sampler(SimulatedBackend(2), interval=1.0, name=None)
    sampler.sample_once()
    with start_exporter(sampler, ":0", max_age_s=0.2) as exporter:
        assert "DCGM_FI_DEV_GPU_UTIL" in scrape(exporter.url)
        time.sleep(0.3)  # the sampler is not running: its last snapshot ages
        metrics = scrape(exporter.url)
    assert "DCGM_FI_DEV_GPU_UTIL" not in metrics
    assert metrics["course_exporter_snapshot_age_seconds"][0].value > 0.2


def test_before_the_first_sample_only_the_exporter_metrics_appear():
    sampler = Sampler(SimulatedBackend(1), interval=1.0, name=None)
    with start_exporter(sampler, ":0") as exporter:
        metrics = scrape(exporter.url)
    assert "DCGM_FI_DEV_GPU_UTIL" not in metrics
    assert metrics["course_exporter_info"][0].labels["source"] == "none"


def test_starting_twice_on_one_address_replaces_the_first():
    sampler = Sampler(SimulatedBackend(1), interval=1.0, name=None)
    first = start_exporter(sampler, ":0")
    second = start_exporter(sampler, f"127.0.0.1:{first.port}")
    try:
        assert not first.running and second.running
        scrape(second.url)
    finally:
        second.stop()
        first.stop()  # stopping twice is harmless


def test_a_busy_port_gets_an_error_that_says_what_to_do():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    sampler = Sampler(SimulatedBackend(1), interval=1.0, name=None)
    try:
        with pytest.raises(OSError, match="choose another"):
            start_exporter(sampler, f"127.0.0.1:{port}")
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9400", ("127.0.0.1", 9400)),
        (":9400", ("127.0.0.1", 9400)),
        ("127.0.0.1:9400", ("127.0.0.1", 9400)),
        ("0.0.0.0:9401", ("0.0.0.0", 9401)),
        ("[::1]:9400", ("::1", 9400)),
        (None, ("127.0.0.1", 9400)),
        (0, ("127.0.0.1", 0)),
    ],
)
def test_addresses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nine", "PORT, :PORT or HOST:PORT"),
        (":99999", "out of range"),
        ("::1:9400", "brackets"),
        ("example.org:9400", "not an IP address"),
    ],
)
def test_bad_addresses_say_what_to_write(text, message):
    with pytest.raises(ValueError, match=message):
        parse_address(text)


def test_the_command_line_serves_and_refuses_a_bad_address(capsys):
    assert cli_main(["monitor", "--simulate", "2", "--prometheus", "nine", "--duration", "1"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err  # one line on stderr, exit 2, like every bad input
    assert cli_main(["monitor", "--simulate", "2", "--prometheus", ":0", "--duration", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and "stopped after" in out
    from course_utils.telemetry.prometheus import _RUNNING

    assert not any(e.running for e in list(_RUNNING.values()))  # monitor stopped its exporter


def test_the_exporter_module_imports_no_jupyter():
    import subprocess

    code = (
        "import sys, course_utils.telemetry.prometheus; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipywidgets', 'ipykernel', "
        "'jupyter_client', 'course_utils.widgets')]; print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_collector_also_works_in_a_registry_of_ones_own(counted):
    from prometheus_client import CollectorRegistry, generate_latest

    from course_utils.telemetry.prometheus import SnapshotCollector

    backend, sampler, exporter = counted
    registry = CollectorRegistry()
    collector = SnapshotCollector(sampler, max_age_s=60)
    registry.register(collector)
    before = backend.snapshots
    mine = {f.name: f.samples for f in text_string_to_metric_families(generate_latest(registry).decode())}
    served = scrape(exporter.url)
    assert backend.snapshots == before
    assert mine["DCGM_FI_DEV_GPU_UTIL"] == served["DCGM_FI_DEV_GPU_UTIL"]
    collector.close()


def test_a_new_snapshot_is_rendered_anew_and_other_paths_are_404(counted):
    import urllib.error

    _, sampler, exporter = counted
    first = scrape(exporter.url)["DCGM_FI_DEV_POWER_USAGE"]
    assert scrape(exporter.url)["DCGM_FI_DEV_POWER_USAGE"] == first  # same snapshot, same text
    sampler.sample_once()
    again = {s.labels["gpu"]: s.value for s in scrape(exporter.url)["DCGM_FI_DEV_POWER_USAGE"]}
    assert again == {str(g.index): g.power_w for g in sampler.latest.gpus}
    assert again != {s.labels["gpu"]: s.value for s in first}  # the cache did not serve the old text
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(exporter.url.replace("/metrics", "/nothing"), timeout=5)
    assert err.value.code == 404


def test_a_replaced_sampler_takes_its_exporter_with_it():
    """A notebook cell run twice: a new Sampler(name=...) replaces the old one; starting
    its exporter stops the old sampler's, even on another port."""
    first_sampler = Sampler(SimulatedBackend(1), interval=1.0, name="rerun-cell")
    first = start_exporter(first_sampler, ":0")
    second_sampler = Sampler(SimulatedBackend(1), interval=1.0, name="rerun-cell")
    second = start_exporter(second_sampler, ":0")
    try:
        assert not first.running and second.running
    finally:
        second.stop()
        second_sampler.close()


def test_pci_bus_id_and_device_come_from_nvml():
    from types import SimpleNamespace

    class NvmlWithPci(FakeNvml):
        def nvmlDeviceGetPciInfo(self, h):
            return SimpleNamespace(busId=f"00000000:{0x18 + h.index:02X}:00.0".encode())

        def nvmlDeviceGetMinorNumber(self, h):
            return 3 - h.index  # minor numbers need not follow NVML's order

    backend = NvmlBackend(nvml=NvmlWithPci(n_gpus=2))
    sampler = Sampler(backend, interval=1.0, name=None)
    sampler.sample_once()
    with start_exporter(sampler, ":0", max_age_s=60) as exporter:
        labels = {s.labels["gpu"]: s.labels for s in scrape(exporter.url)["DCGM_FI_DEV_GPU_TEMP"]}
    assert labels["0"]["pci_bus_id"] == "00000000:18:00.0" and labels["0"]["device"] == "nvidia3"
    assert labels["1"]["pci_bus_id"] == "00000000:19:00.0" and labels["1"]["device"] == "nvidia2"
    backend.close()
