import itertools

import pytest

from course_utils.telemetry import SimulatedBackend, open_backend
from course_utils.units import MIB


def trace(backend, n):
    return [backend.snapshot() for _ in range(n)]


def test_same_seed_same_trace_to_the_last_digit():
    a = trace(SimulatedBackend(4, seed=7, step_s=0.5), 300)
    b = trace(SimulatedBackend(4, seed=7, step_s=0.5), 300)
    assert [s.gpus for s in a] == [s.gpus for s in b]
    c = trace(SimulatedBackend(4, seed=8, step_s=0.5), 300)
    assert [s.gpus for s in a] != [s.gpus for s in c]


def test_values_depend_on_time_not_on_how_often_they_are_read():
    fine = SimulatedBackend(1, seed=3, step_s=0.5)
    coarse = SimulatedBackend(1, seed=3, step_s=5.0)
    fine_samples = trace(fine, 100)  # t = 0.5 .. 50
    coarse_samples = trace(coarse, 10)  # t = 5 .. 50
    for k, snap in enumerate(coarse_samples):
        assert snap.gpus == fine_samples[(k + 1) * 10 - 1].gpus


@pytest.mark.parametrize("n", [1, 2, 8])
def test_every_sample_is_labelled_simulated_and_plausible(n):
    snaps = trace(SimulatedBackend(n, seed=1, step_s=0.5), 600)  # five minutes
    assert all(s.source == "simulated" and s.simulated for s in snaps)
    for s in snaps:
        assert len(s.gpus) == n
        for g in s.gpus:
            assert g.simulated and "simulated" in g.name
            assert 0 <= g.utilization_pct <= 100
            assert 0 <= g.memory_used_bytes <= g.memory_total_bytes
            assert 60 <= g.power_w <= 700
            assert 20 <= g.temperature_c <= 95
            assert 300 <= g.sm_clock_mhz <= 1980


def test_shapes_a_training_job_would_have():
    snaps = trace(SimulatedBackend(2, seed=0, step_s=0.5), 1200)  # ten minutes
    g0 = [s.gpus[0] for s in snaps]
    util = [g.utilization_pct for g in g0]
    mem = [g.memory_used_bytes / MIB for g in g0]
    temp = [g.temperature_c for g in g0]
    power = [g.power_w for g in g0]
    # idle phases and busy phases both occur
    assert min(util) < 5 and max(util) > 90
    assert sum(u > 80 for u in util) > len(util) // 3
    # memory steps up (several distinct plateaus during a job's ramp) and drops at job end
    ups = sum(1 for a, b in itertools.pairwise(mem) if b > a + 100)
    downs = sum(1 for a, b in itertools.pairwise(mem) if b < a - 1000)
    assert ups >= 5 and downs >= 2
    # power follows utilisation closely; temperature lags: it rises slowly
    busy_power = [p for p, u in zip(power, util, strict=True) if u > 90]
    idle_power = [p for p, u in zip(power, util, strict=True) if u < 5]
    assert min(busy_power) > max(idle_power)
    assert max(abs(b - a) for a, b in itertools.pairwise(temp)) <= 3
    # the GPUs of one job move together (as DDP ranks do)
    g1_util = [s.gpus[1].utilization_pct for s in snaps]
    together = sum((a > 50) == (b > 50) for a, b in zip(util, g1_util, strict=True))
    assert together > 0.85 * len(util)


def test_processes_appear_while_a_job_runs():
    backend = SimulatedBackend(2, seed=0, step_s=0.5)
    snaps = [backend.snapshot(processes=True) for _ in range(200)]
    busy = [s for s in snaps if s.gpus[0].utilization_pct > 80]
    assert busy and all(len(s.processes) == 2 for s in busy)
    assert all("simulated" in p.name for s in busy for p in s.processes)


def test_wall_clock_mode_advances_with_time():
    import time

    backend = SimulatedBackend(1, seed=0)
    a = backend.snapshot()
    time.sleep(0.25)
    b = backend.snapshot()
    assert b.timestamp - a.timestamp == pytest.approx(0.25, abs=0.1)


@pytest.mark.parametrize("bad", [0, 9, -1, 2.5, "4"])
def test_bad_gpu_count_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="1 to 8"):
        SimulatedBackend(bad)


def test_environment_selects_simulation(monkeypatch):
    monkeypatch.setenv("COURSE_GPU_MODE", "simulated")
    monkeypatch.setenv("COURSE_SIMULATED_GPUS", "3")
    backend = open_backend()
    assert backend.kind == "simulated" and backend.device_count() == 3
    assert "SIMULATED" in backend.label
    monkeypatch.setenv("COURSE_SIMULATED_GPUS", "three")
    with pytest.raises(ValueError, match="COURSE_SIMULATED_GPUS"):
        open_backend()
    monkeypatch.setenv("COURSE_GPU_MODE", "fast")
    with pytest.raises(ValueError, match="COURSE_GPU_MODE"):
        open_backend()


def test_cpu_mode_and_simulated_fallback(monkeypatch):
    from support.fake_nvml import ERR, FakeNvml

    monkeypatch.setenv("COURSE_GPU_MODE", "cpu")
    backend = open_backend()
    assert backend.kind == "none" and backend.reason.code == "cpu_mode"
    monkeypatch.delenv("COURSE_GPU_MODE")
    fallback = open_backend(fallback="simulated", nvml=FakeNvml(init_error=ERR.LIBRARY_NOT_FOUND))
    assert fallback.kind == "simulated"
    real = open_backend(fallback="simulated", nvml=FakeNvml(n_gpus=1))
    assert real.kind == "nvml"
