"""The real NVML path, on a machine with NVIDIA GPUs (skipped elsewhere, with the reason)."""

import shutil
import subprocess
import time

import pytest

from course_utils.telemetry import NoGpuError, NvmlBackend, Sampler, open_backend

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def nvml_backend():
    try:
        backend = NvmlBackend()
    except NoGpuError as exc:
        pytest.skip(f"no usable NVIDIA GPU here: {exc.reason.message}")
    yield backend
    backend.close()


def smi_query(fields):
    exe = shutil.which("nvidia-smi")
    if exe is None:
        pytest.skip("nvidia-smi is not on PATH")
    out = subprocess.run(
        [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"], capture_output=True, text=True, check=True
    ).stdout
    return [[v.strip() for v in line.split(",")] for line in out.strip().splitlines()]


def test_every_default_metric_is_read_on_a_real_gpu(nvml_backend):
    snap = nvml_backend.snapshot(processes=True)
    assert snap.source == "nvml" and snap.gpus
    for g in snap.gpus:
        assert g.healthy and not g.simulated
        assert g.memory_total_bytes > 0 and 0 <= g.memory_used_bytes <= g.memory_total_bytes
        assert g.memory_reserved_bytes is not None  # the v2 call works on current drivers
        assert 0 <= g.utilization_pct <= 100
        assert 0 < g.temperature_c < 110
        assert 0 < g.power_w <= (g.power_limit_w or 2000) * 1.2
        assert g.sm_clock_mhz > 0
    assert isinstance(snap.processes, tuple)
    assert nvml_backend.unsupported() == {g.index: set() for g in snap.gpus}


def test_memory_agrees_with_nvidia_smi(nvml_backend):
    rows = smi_query("index,memory.used,memory.total")
    snap = nvml_backend.snapshot()
    for (index, used, total), g in zip(rows, snap.gpus, strict=True):
        assert int(index) == g.index
        assert abs(g.memory_total_mib - float(total)) <= 1
        # memory moves between the two reads only if something else runs: allow 1% of total
        assert abs(g.memory_used_mib - float(used)) <= 0.01 * float(total)


def test_process_memory_of_this_process_is_seen():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    x = torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device="cuda:0")
    torch.cuda.synchronize()
    backend = NvmlBackend(indices=[0])
    try:
        procs = backend.snapshot(processes=True).processes
    finally:
        backend.close()
    del x
    # inside a container NVML reports host PIDs, so match on memory, not only on PID
    assert procs, "NVML lists no compute process although this one holds GPU memory"
    assert any(p.used_memory_bytes is None or p.used_memory_bytes >= 256 * 1024 * 1024 for p in procs)


def test_sampler_on_real_nvml_at_10_hz():
    backend = open_backend("real")
    if backend.kind != "nvml":
        pytest.skip(f"no usable NVIDIA GPU: {backend.reason.message}")
    sampler = Sampler(backend, interval=0.1, name=None)
    with sampler:
        time.sleep(3)
    backend.close()
    # costs are measured by `python -m course_utils bench telemetry`, not asserted here
    assert 25 <= sampler.ticks <= 35
    assert not sampler.subscriber_errors
    assert all(len(s.gpus) == len(sampler.history[0].gpus) for s in sampler.history)
