"""peak_memory: CPU path for real, GPU path against a fake ``torch.cuda`` that counts bytes."""

from __future__ import annotations

import time

import pytest

from course_utils.memory import CPU_NOTE, peak_memory
from course_utils.memory import peak as peak_mod


class FakeCuda:
    """Just enough of torch.cuda: an allocated counter with a resettable peak."""

    def __init__(self, devices: int = 1):
        self.devices = devices
        self.allocated = [0] * devices
        self.peak = [0] * devices
        self.syncs = 0
        self.resets = 0

    def is_available(self):
        return self.devices > 0

    def device_count(self):
        return self.devices

    def current_device(self):
        return 0

    def synchronize(self, index=None):
        self.syncs += 1

    def memory_allocated(self, index):
        return self.allocated[index]

    def max_memory_allocated(self, index):
        return self.peak[index]

    def reset_peak_memory_stats(self, index):
        self.resets += 1
        self.peak[index] = self.allocated[index]

    def alloc(self, n, index=0):
        self.allocated[index] += n
        self.peak[index] = max(self.peak[index], self.allocated[index])

    def free(self, n, index=0):
        self.allocated[index] -= n


@pytest.fixture
def cuda(monkeypatch):
    fake = FakeCuda(devices=2)
    monkeypatch.setattr(peak_mod, "_cuda", lambda: fake)
    return fake


def test_cpu_block_is_timed_and_says_memory_was_not_measured(monkeypatch):
    monkeypatch.setattr(peak_mod, "_cuda", lambda: FakeCuda(devices=0))
    with peak_memory(label="sleep") as r:
        assert not r.finished
        time.sleep(0.05)
    assert r.finished and not r.on_gpu and r.device == "cpu"
    assert r.peak_bytes is None and r.start_bytes is None
    assert 0.04 < r.seconds < 2
    assert r.note == CPU_NOTE
    assert "sleep" in str(r) and "not measured" in str(r)
    assert "not measured" in r._repr_html_()


def test_real_torch_on_this_machine_gives_a_result():
    # whatever this machine has: on CPU the note says so, on a GPU bytes are numbers
    with peak_memory(label="real") as r:
        pass
    assert r.finished
    assert (r.peak_bytes is not None) == r.on_gpu
    assert (r.note == CPU_NOTE) == (not r.on_gpu)


def test_gpu_peak_is_the_high_water_mark_inside_the_block(cuda):
    cuda.alloc(1000)
    with peak_memory(label="fwd") as r:
        cuda.alloc(500)
        cuda.free(500)
        cuda.alloc(100)
    assert r.on_gpu and r.device == "cuda:0"
    assert (r.start_bytes, r.peak_bytes, r.end_bytes) == (1000, 1500, 1100)
    assert r.added_peak_bytes == 500
    assert cuda.syncs >= 2  # before starting the clock and before stopping it
    assert "fwd" in str(r) and "cuda:0" in str(r)
    assert r.as_dict()["peak_bytes"] == 1500


def test_a_peak_before_the_block_does_not_count(cuda):
    cuda.alloc(5000)
    cuda.free(5000)
    with peak_memory() as r:
        cuda.alloc(10)
    assert r.peak_bytes == 10


def test_nested_blocks_keep_the_outer_peak(cuda):
    with peak_memory(label="outer") as outer:
        cuda.alloc(800)
        cuda.free(800)  # outer's peak happens before the inner block resets the counter
        with peak_memory(label="inner") as inner:
            cuda.alloc(300)
            cuda.free(300)
        cuda.alloc(50)
    assert inner.peak_bytes == 300
    assert outer.peak_bytes == 800
    with peak_memory() as later:
        pass
    assert later.peak_bytes == 50  # the finished blocks are no longer on the stack


def test_result_is_filled_when_the_block_raises(cuda):
    with pytest.raises(KeyError), peak_memory(label="boom") as r:
        cuda.alloc(42)
        raise KeyError("x")
    assert r.finished and r.raised == "KeyError" and r.peak_bytes == 42
    assert "raised KeyError" in str(r)


def test_device_choice(cuda):
    cuda.alloc(7, index=1)
    with peak_memory(device=1) as r:
        cuda.alloc(3, index=1)
    assert r.device == "cuda:1" and r.peak_bytes == 10
    with peak_memory(device="cpu") as r:
        pass
    assert not r.on_gpu


@pytest.mark.parametrize("bad", ["cuda:5", "tpu", 9])
def test_bad_devices_say_what_to_use(cuda, bad):
    with pytest.raises(ValueError, match=r"cuda|GPU"), peak_memory(device=bad):
        pass


def test_asking_for_cuda_without_cuda_is_explained(monkeypatch):
    monkeypatch.setattr(peak_mod, "_cuda", lambda: FakeCuda(devices=0))
    with pytest.raises(ValueError, match="CUDA is not available"), peak_memory(device="cuda"):
        pass


def test_html_lists_the_gpu_figures(cuda):
    with peak_memory(label="<b>x</b>") as r:
        cuda.alloc(3 * 1024**2)
    page = r._repr_html_()
    assert "3.0 MiB" in page and "&lt;b&gt;" in page
