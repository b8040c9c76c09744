"""The simulated GPU that follows the learner's own loop: memory from tensor sizes, utilisation
from compute time, a cache that keeps memory until empty_cache()."""

import pytest
import torch

from course_utils.telemetry import LoopDrivenBackend, Sampler
from course_utils.telemetry.loop_backend import allocator_bytes, segments_for, tensor_bytes
from course_utils.telemetry.simulated_backend import CONTEXT_MIB
from course_utils.units import MIB


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_tensor_bytes_are_exact_and_allocations_round_to_512():
    assert tensor_bytes(torch.zeros(1000, 1000)) == 4_000_000
    assert tensor_bytes(torch.zeros(10, dtype=torch.bfloat16)) == 20
    assert tensor_bytes(None) == 0
    assert allocator_bytes(1) == 512 and allocator_bytes(512) == 512 and allocator_bytes(513) == 1024
    assert segments_for([100, 100]) == 2 * MIB  # small requests share a 2 MiB segment
    assert segments_for([2 * MIB, 3 * MIB]) == 20 * MIB  # mid-size requests share a 20 MiB segment
    assert segments_for([21 * MIB + 1]) == 22 * MIB  # a large one: its own segment, rounded to 2 MiB
    with pytest.raises(TypeError, match="tensors"):
        tensor_bytes("x")


def test_memory_follows_the_loop_and_the_cache_keeps_it_until_empty_cache():
    clock = FakeClock()
    gpu = LoopDrivenBackend(clock=clock, wall=clock)
    assert gpu.snapshot().gpus[0].memory_used_bytes == 0  # no step yet: no context
    big = torch.zeros(64, 1024, 1024)  # 256 MiB
    with gpu.step() as s:
        s.holds(big, None)
    used = gpu.snapshot().gpus[0].memory_used_bytes
    assert used == int(CONTEXT_MIB * MIB) + 256 * MIB  # already a multiple of 2 MiB
    with gpu.step() as s:
        s.holds(torch.zeros(10))  # a small step: the cache still holds the big one's memory
    assert gpu.snapshot().gpus[0].memory_used_bytes == used
    assert gpu.allocated_bytes == 40 and gpu.peak_allocated_bytes == 256 * MIB
    gpu.empty_cache()
    assert gpu.snapshot().gpus[0].memory_used_bytes == int(CONTEXT_MIB * MIB) + 2 * MIB


def test_utilisation_is_the_busy_share_of_the_last_second():
    clock = FakeClock()
    gpu = LoopDrivenBackend(clock=clock, wall=clock)
    gpu.record_step(0, 100.0, 100.25)
    gpu.record_step(0, 100.5, 100.75)
    clock.t = 101.0
    assert gpu.utilization() == pytest.approx(50.0)
    clock.t = 103.0  # the loop stopped: idle
    assert gpu.snapshot().gpus[0].utilization_pct == 0.0
    with pytest.raises(ValueError):
        gpu.record_step(-1, 0, 1)


def test_a_sampler_reads_it_like_any_backend_and_it_is_labelled_simulated():
    gpu = LoopDrivenBackend(2)
    with gpu.step() as s:
        s.holds(torch.zeros(1000))
    sampler = Sampler(gpu, interval=0.05)
    snap = sampler.sample_once()
    assert snap.simulated and len(snap.gpus) == 2 and "SIMULATED" in gpu.label
    assert snap.gpus[0].utilization_pct is not None
    sampler.close()
    with pytest.raises(ValueError):
        LoopDrivenBackend(0)


def test_simulated_nvml_answers_the_taught_calls_in_nvml_units():
    from course_utils.telemetry.simnvml import SimulatedNvml

    gpu = LoopDrivenBackend(2)
    with gpu.step() as s:
        s.holds(torch.zeros(1024, 1024))
    nvml = SimulatedNvml(gpu)
    with pytest.raises(nvml.NVMLError):
        nvml.nvmlDeviceGetCount()  # as NVML: nothing before nvmlInit()
    nvml.nvmlInit()
    assert nvml.nvmlDeviceGetCount() == 2
    h = nvml.nvmlDeviceGetHandleByIndex(1)
    mem = nvml.nvmlDeviceGetMemoryInfo(h, version=nvml.nvmlMemory_v2)
    assert mem.used == gpu.snapshot().gpus[1].memory_used_bytes and mem.total > mem.used
    assert 0 <= nvml.nvmlDeviceGetUtilizationRates(h).gpu <= 100
    with pytest.raises(nvml.NVMLError):
        nvml.nvmlDeviceGetHandleByIndex(2)
    nvml.nvmlShutdown()
