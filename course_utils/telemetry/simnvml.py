"""The few ``pynvml`` calls notebook 09 teaches, answered by a simulated backend (no GPU here).

Learners write the real NVML calls once; on a CPU-only machine the same code runs against
``SimulatedNvml(backend)`` instead of the ``pynvml`` module:

    nvml = pynvml if have_gpu else SimulatedNvml(LoopDrivenBackend())
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    nvml.nvmlDeviceGetMemoryInfo(handle).used      # bytes, as NVML returns them

Only the calls below exist; anything else raises AttributeError, so code that works here uses
nothing the simulation does not model. Names and units follow nvidia-ml-py.
"""

from __future__ import annotations

from types import SimpleNamespace

from .backend import Backend
from .errors import ERR_INVALID_ARGUMENT, ERR_UNINITIALIZED
from .nvml import load_nvml

_real = load_nvml()  # the real binding's exception class and constants


class SimulatedNvml:
    NVMLError = _real.NVMLError
    nvmlMemory_v2 = _real.nvmlMemory_v2
    simulated = True

    def __init__(self, backend: Backend):
        self._backend = backend
        self._initialised = 0

    def _need_init(self) -> None:
        if self._initialised <= 0:
            raise _real.NVMLError(ERR_UNINITIALIZED)

    def nvmlInit(self) -> None:
        self._initialised += 1

    def nvmlShutdown(self) -> None:
        self._need_init()
        self._initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._need_init()
        return self._backend.device_count()

    def nvmlDeviceGetHandleByIndex(self, index: int):
        self._need_init()
        if not 0 <= index < self._backend.device_count():
            raise _real.NVMLError(ERR_INVALID_ARGUMENT)
        return SimpleNamespace(index=index)

    def _sample(self, handle):
        self._need_init()
        return self._backend.snapshot().gpus[handle.index]

    def nvmlDeviceGetName(self, handle) -> str:
        return self._sample(handle).name

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        g = self._sample(handle)
        return SimpleNamespace(
            total=g.memory_total_bytes,
            used=g.memory_used_bytes,
            free=g.memory_total_bytes - g.memory_used_bytes,
            reserved=g.memory_reserved_bytes or 0,
        )

    def nvmlDeviceGetUtilizationRates(self, handle):
        g = self._sample(handle)
        return SimpleNamespace(gpu=int(g.utilization_pct or 0), memory=int(g.memory_busy_pct or 0))
