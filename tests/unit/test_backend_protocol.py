"""Every backend satisfies the Backend protocol, and behaves alike where the protocol says so."""

import pytest
from support.fake_nvml import FakeNvml

from course_utils.telemetry import (
    Backend,
    LoopDrivenBackend,
    NoGpuBackend,
    NoGpuReason,
    NvmlBackend,
    SimulatedBackend,
    open_backend,
)

REASON = NoGpuReason(code="cpu_mode", message="off", fix="turn it on")


def make(kind):
    return {
        "nvml": lambda: NvmlBackend(nvml=FakeNvml(n_gpus=2)),
        "simulated": lambda: SimulatedBackend(2, seed=1, step_s=0.5),
        "loop": lambda: LoopDrivenBackend(2),
        "none": lambda: NoGpuBackend(REASON),
    }[kind]()


@pytest.mark.parametrize("kind", ["nvml", "simulated", "loop", "none"])
def test_each_backend_is_a_backend_and_its_devices_match_its_snapshots(kind):
    backend = make(kind)
    assert isinstance(backend, Backend)
    assert backend.kind in ("nvml", "simulated", "none") and backend.label
    snap = backend.snapshot(processes=True)
    assert snap.source == backend.kind and snap.processes is not None
    assert backend.device_count() == len(backend.devices()) == len(snap.gpus)
    assert [d.index for d in backend.devices()] == [g.index for g in snap.gpus]
    backend.devices().clear()  # a copy: the caller cannot change what the backend watches
    assert backend.device_count() == len(snap.gpus)
    with backend as entered:
        assert entered is backend
    backend.close()  # twice is harmless


def test_leaving_a_with_block_closes_the_backend():
    fake = FakeNvml(n_gpus=1)
    with NvmlBackend(nvml=fake) as backend:
        backend.snapshot()
    assert fake.shutdowns == 1
    with pytest.raises(RuntimeError, match="closed"):
        backend.snapshot()


def test_something_else_is_not_a_backend():
    assert not isinstance(object(), Backend)
    assert isinstance(open_backend("cpu"), Backend)
