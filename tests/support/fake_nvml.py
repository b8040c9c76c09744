"""A fault-injecting stand-in for the ``pynvml`` module.

It reuses the real package's exception classes and constants, so the code
under test sees exactly the exception types a real driver raises. Faults are
planned per function and GPU: "from the 3rd call on, raise GpuIsLost".
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from course_utils.telemetry.nvml import load_nvml
from course_utils.units import MIB

_real = load_nvml()  # the real binding's exception classes and constants


class FakeNvml:
    NVMLError = _real.NVMLError
    NVML_TEMPERATURE_GPU = _real.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = _real.NVML_CLOCK_SM
    NVML_PCIE_UTIL_TX_BYTES = _real.NVML_PCIE_UTIL_TX_BYTES
    NVML_PCIE_UTIL_RX_BYTES = _real.NVML_PCIE_UTIL_RX_BYTES

    def __init__(
        self,
        n_gpus: int = 2,
        init_error: int | None = None,
        has_v2: bool = True,
        processes: dict[int, list[tuple[int, int | None]]] | None = None,
    ):
        self.n_gpus = n_gpus
        self.init_error = init_error
        self.nvmlMemory_v2 = _real.nvmlMemory_v2 if has_v2 else None
        self._v2_works = has_v2
        self.calls: Counter = Counter()
        self._faults: list[tuple[str, int | None, int, int, int | None]] = []
        self.initialised = False
        self.shutdowns = 0
        self.processes = processes or {}

    # -- planning faults ----------------------------------------------------

    def fail(self, function: str, code: int, gpu: int | None = None, after: int = 0, times: int | None = None) -> None:
        """Raise NVMLError(code) from ``function`` on ``gpu`` (None: all) once it
        has been called ``after`` times, for ``times`` calls (None: for ever)."""
        self._faults.append((function, gpu, code, after, times))

    def v2_missing(self) -> None:
        """Make the v2 memory call fail as on an old driver (the constant exists)."""
        self._v2_works = False

    def _enter(self, function: str, gpu: int | None = None) -> None:
        key = (function, gpu)
        n = self.calls[key]
        self.calls[key] += 1
        for fn, g, code, after, times in self._faults:
            if fn == function and (g is None or g == gpu) and n >= after and (times is None or n < after + times):
                raise _real.NVMLError(code)

    # -- the NVML API used by the course ----------------------------------------

    def nvmlInit(self):
        self._enter("nvmlInit")
        if self.init_error is not None:
            raise _real.NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self):
        self.shutdowns += 1
        self.initialised = False

    def nvmlDeviceGetCount(self):
        return self.n_gpus

    def nvmlSystemGetDriverVersion(self):
        return "580.159.04"

    def nvmlSystemGetCudaDriverVersion(self):
        return 13000

    def nvmlDeviceGetHandleByIndex(self, i):
        if not 0 <= i < self.n_gpus:
            raise _real.NVMLError(_real.NVML_ERROR_INVALID_ARGUMENT)
        return SimpleNamespace(index=i)

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H200"

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-fake-{h.index}"

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        self._enter("nvmlDeviceGetEnforcedPowerLimit", h.index)
        return 700_000

    def nvmlDeviceGetMemoryInfo(self, h, version=None):
        self._enter("nvmlDeviceGetMemoryInfo" + ("_v2" if version else ""), h.index)
        if version and not self._v2_works:
            raise _real.NVMLError(_real.NVML_ERROR_FUNCTION_NOT_FOUND)
        used = (1000 + 100 * h.index) * MIB
        if version:
            return SimpleNamespace(used=used, total=143771 * MIB, free=143771 * MIB - used, reserved=491 * MIB)
        return SimpleNamespace(used=used + 491 * MIB, total=143771 * MIB, free=0)

    def nvmlDeviceGetUtilizationRates(self, h):
        self._enter("nvmlDeviceGetUtilizationRates", h.index)
        return SimpleNamespace(gpu=50 + h.index, memory=20)

    def nvmlDeviceGetTemperature(self, h, sensor):
        self._enter("nvmlDeviceGetTemperature", h.index)
        return 40 + h.index

    def nvmlDeviceGetPowerUsage(self, h):
        self._enter("nvmlDeviceGetPowerUsage", h.index)
        return 250_000

    def nvmlDeviceGetClockInfo(self, h, clock):
        self._enter("nvmlDeviceGetClockInfo", h.index)
        return 1980

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        self._enter("nvmlDeviceGetComputeRunningProcesses", h.index)
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in self.processes.get(h.index, [])]

    def nvmlDeviceGetPcieThroughput(self, h, counter):
        self._enter("nvmlDeviceGetPcieThroughput", h.index)
        return 1024


ERR = SimpleNamespace(
    NOT_SUPPORTED=_real.NVML_ERROR_NOT_SUPPORTED,
    NO_PERMISSION=_real.NVML_ERROR_NO_PERMISSION,
    GPU_IS_LOST=_real.NVML_ERROR_GPU_IS_LOST,
    UNKNOWN=_real.NVML_ERROR_UNKNOWN,
    LIBRARY_NOT_FOUND=_real.NVML_ERROR_LIBRARY_NOT_FOUND,
    DRIVER_NOT_LOADED=_real.NVML_ERROR_DRIVER_NOT_LOADED,
    LIB_RM_VERSION_MISMATCH=_real.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
    TIMEOUT=_real.NVML_ERROR_TIMEOUT,
    FUNCTION_NOT_FOUND=_real.NVML_ERROR_FUNCTION_NOT_FOUND,
)
