"""The NVML backend against a fault-injecting fake NVML: every error class,
at init and in the middle of a stream."""

import pytest
from support.fake_nvml import ERR, MIB, FakeNvml

from course_utils.telemetry import NoGpuBackend, NoGpuError, NvmlBackend, open_backend


def test_reads_five_metric_groups_for_each_gpu():
    nv = FakeNvml(n_gpus=2)
    snap = NvmlBackend(nvml=nv).snapshot()
    assert snap.source == "nvml" and not snap.simulated
    assert [g.index for g in snap.gpus] == [0, 1]
    g1 = snap.gpus[1]
    assert g1.memory_used_bytes == 1100 * MIB  # the v2 figure, not v1's "used incl. reserved"
    assert g1.memory_reserved_bytes == 491 * MIB
    assert (g1.utilization_pct, g1.memory_busy_pct, g1.temperature_c) == (51.0, 20.0, 41.0)
    assert (g1.power_w, g1.power_limit_w, g1.sm_clock_mhz) == (250.0, 700.0, 1980.0)
    assert g1.healthy and g1.error is None


def test_chosen_indices_only_and_bad_index_is_a_clear_error():
    nv = FakeNvml(n_gpus=4)
    assert [g.index for g in NvmlBackend(indices=[2, 3], nvml=nv).snapshot().gpus] == [2, 3]
    with pytest.raises(ValueError, match="NVML sees 4 GPU"):
        NvmlBackend(indices=[7], nvml=FakeNvml(n_gpus=4))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (ERR.LIBRARY_NOT_FOUND, "library_not_found"),
        (ERR.DRIVER_NOT_LOADED, "driver_not_loaded"),
        (ERR.NO_PERMISSION, "no_permission"),
        (ERR.LIB_RM_VERSION_MISMATCH, "driver_library_mismatch"),
        (ERR.UNKNOWN, "unknown_error"),
        (ERR.TIMEOUT, "error"),
    ],
)
def test_init_failures_become_a_reason_with_a_fix(code, reason):
    with pytest.raises(NoGpuError) as info:
        NvmlBackend(nvml=FakeNvml(init_error=code))
    assert info.value.reason.code == reason
    assert info.value.reason.fix  # every reason says what to do
    backend = open_backend("auto", nvml=FakeNvml(init_error=code))
    assert isinstance(backend, NoGpuBackend) and backend.reason.code == reason
    assert backend.snapshot().gpus == ()


def test_zero_gpus_is_no_devices():
    with pytest.raises(NoGpuError) as info:
        NvmlBackend(nvml=FakeNvml(n_gpus=0))
    assert info.value.reason.code == "no_devices"


@pytest.mark.parametrize("code", [ERR.NOT_SUPPORTED, ERR.FUNCTION_NOT_FOUND, ERR.NO_PERMISSION])
def test_unsupported_metric_is_none_and_not_asked_again(code):
    nv = FakeNvml(n_gpus=2)
    nv.fail("nvmlDeviceGetPowerUsage", code, gpu=1)
    backend = NvmlBackend(nvml=nv)
    for _ in range(5):
        snap = backend.snapshot()
        assert snap.gpus[1].power_w is None  # None, never 0
        assert snap.gpus[0].power_w == 250.0
        assert snap.gpus[1].temperature_c == 41.0  # the other metrics still come
    assert nv.calls[("nvmlDeviceGetPowerUsage", 1)] == 1  # asked once, remembered
    assert nv.calls[("nvmlDeviceGetPowerUsage", 0)] == 5
    assert backend.unsupported() == {0: set(), 1: {"power"}}


@pytest.mark.parametrize("code", [ERR.GPU_IS_LOST, ERR.UNKNOWN])
def test_lost_gpu_mid_stream_is_marked_and_others_keep_reporting(code):
    nv = FakeNvml(n_gpus=3)
    nv.fail("nvmlDeviceGetUtilizationRates", code, gpu=1, after=2)
    backend = NvmlBackend(nvml=nv)
    for _ in range(2):
        assert all(g.healthy for g in backend.snapshot().gpus)
    for _ in range(3):
        snap = backend.snapshot()
        bad = snap.gpus[1]
        assert not bad.healthy and "while reading utilization" in bad.error
        assert bad.memory_used_bytes is None and bad.utilization_pct is None
        assert snap.gpus[0].healthy and snap.gpus[2].healthy
        assert snap.gpus[2].utilization_pct == 52.0
    # the lost GPU is not queried again (a lost GPU can hang calls)
    assert nv.calls[("nvmlDeviceGetUtilizationRates", 1)] == 3
    assert nv.calls[("nvmlDeviceGetMemoryInfo_v2", 1)] == 3
    assert backend.failures().keys() == {1}


def test_transient_error_gives_none_once_then_recovers():
    nv = FakeNvml(n_gpus=1)
    nv.fail("nvmlDeviceGetTemperature", ERR.TIMEOUT, after=1, times=1)
    backend = NvmlBackend(nvml=nv)
    temps = [backend.snapshot().gpus[0].temperature_c for _ in range(3)]
    assert temps == [40.0, None, 40.0]


def test_memory_falls_back_to_v1_when_v2_is_missing():
    nv = FakeNvml(n_gpus=1)
    nv.v2_missing()
    backend = NvmlBackend(nvml=nv)
    for _ in range(3):
        g = backend.snapshot().gpus[0]
        assert g.memory_used_bytes == (1000 + 491) * MIB  # v1 counts the reservation as used
        assert g.memory_reserved_bytes is None
    assert nv.calls[("nvmlDeviceGetMemoryInfo_v2", 0)] == 1
    assert nv.calls[("nvmlDeviceGetMemoryInfo", 0)] == 3


def test_memory_without_v2_constant_uses_v1():
    nv = FakeNvml(n_gpus=1, has_v2=False)
    g = NvmlBackend(nvml=nv).snapshot().gpus[0]
    assert g.memory_used_bytes == (1000 + 491) * MIB


def test_processes_only_when_asked_and_unavailable_memory_is_none(monkeypatch):
    import os

    nv = FakeNvml(n_gpus=2, processes={0: [(os.getpid(), 2048 * MIB), (999_999_999, None)]})
    backend = NvmlBackend(nvml=nv)
    assert backend.snapshot().processes is None
    assert nv.calls[("nvmlDeviceGetComputeRunningProcesses", 0)] == 0
    procs = backend.snapshot(processes=True).processes
    assert [(p.gpu_index, p.pid) for p in procs] == [(0, os.getpid()), (0, 999_999_999)]
    mine, foreign = procs
    assert mine.visible and mine.used_memory_mib == 2048
    # a host PID seen from inside a container: no name, not visible, memory may be unknown
    assert not foreign.visible and foreign.name is None and foreign.used_memory_bytes is None


def test_throughput_is_not_on_the_default_path():
    nv = FakeNvml(n_gpus=2)
    backend = NvmlBackend(nvml=nv)
    for _ in range(3):
        backend.snapshot(processes=True)
    assert not any(fn == "nvmlDeviceGetPcieThroughput" for fn, _ in nv.calls)
    assert backend.pcie_throughput(1) == {"tx_mb_s": 1.0, "rx_mb_s": 1.0}


def test_close_shuts_nvml_down_once_and_refuses_later_use():
    nv = FakeNvml()
    backend = NvmlBackend(nvml=nv)
    backend.close()
    backend.close()
    assert nv.shutdowns == 1
    with pytest.raises(RuntimeError, match="closed"):
        backend.snapshot()
