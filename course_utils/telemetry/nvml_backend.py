"""Real GPUs through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

Design rules, each learned from the tools practitioners already use
(nvitop, gpustat, jupyterlab-nvdashboard; see docs/architecture.md and docs/monitoring.md):

* ``nvmlInit`` costs ~13 ms: it is done once, here.
* Each metric is read on its own. ``NotSupported`` (or ``FunctionNotFound``,
  or ``NoPermission`` for one metric) is remembered per device and metric and
  reported as ``None`` without asking again.
* ``GpuIsLost`` / ``Unknown`` mark that device failed; the other devices keep
  reporting, and the failed one is not queried again (a lost GPU can hang).
* Memory uses the v2 call (it matches current ``nvidia-smi``: v1 counts the
  driver's reservation as "used") and falls back to v1 where v2 is missing.
* PCIe/NVLink throughput is never on this path: ``pcie_throughput`` blocks
  ~21 ms per call and is a separate method.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import ModuleType

from .backend import ClosingContext
from .errors import (
    DEVICE_FATAL,
    ERR_ARGUMENT_VERSION_MISMATCH,
    ERR_FUNCTION_NOT_FOUND,
    ERR_NOT_SUPPORTED,
    UNSUPPORTED,
    NoGpuError,
    error_code,
    reason_from_nvml_error,
)
from .nvml import load_nvml
from .samples import BackendKind, DeviceInfo, GpuSample, NoGpuReason, ProcessSample, Snapshot

# Memory v2 is missing on older drivers (or refuses the version argument): fall back to v1.
_V2_MISSING = frozenset({ERR_FUNCTION_NOT_FOUND, ERR_ARGUMENT_VERSION_MISMATCH, ERR_NOT_SUPPORTED})

# The default metrics: the five the course watches (memory, utilisation,
# temperature, power, SM clock). Names are the GpuSample fields they fill.
DEFAULT_METRICS = ("memory", "utilization", "temperature", "power", "sm_clock")


class _Device:
    """Per-GPU state: handle, static info, which readers still work."""

    __slots__ = (
        "failure",
        "handle",
        "info",
        "memory_fallback",
        "readers",
        "transient_errors",
        "unsupported",
    )

    def __init__(self, handle, info: DeviceInfo):
        self.handle = handle
        self.info = info
        self.readers: list[tuple[str, Callable[[dict], None]]] = []
        self.memory_fallback: Callable[[dict], None] | None = None  # v1, if v2 fails
        self.unsupported: set[str] = set()
        self.failure: str | None = None
        self.transient_errors = 0


class NvmlBackend(ClosingContext):
    """Reads GPUs through NVML. Raises :class:`NoGpuError` (with the reason
    and the fix) when NVML cannot start or sees no GPU."""

    kind: BackendKind = "nvml"

    def __init__(
        self,
        indices: list[int] | None = None,
        metrics: tuple[str, ...] = DEFAULT_METRICS,
        nvml: ModuleType | None = None,
    ):
        self._nvml = nvml if nvml is not None else load_nvml()
        self._error_type = self._nvml.NVMLError
        try:
            self._nvml.nvmlInit()
        except self._error_type as exc:
            raise NoGpuError(reason_from_nvml_error(exc)) from exc
        self._open = True
        try:
            count = self._nvml.nvmlDeviceGetCount()
            if indices is None:
                indices = list(range(count))
            bad = [i for i in indices if not 0 <= i < count]
            if bad:
                raise ValueError(f"GPU index {bad} does not exist: NVML sees {count} GPU(s), indices 0..{count - 1}.")
            if not indices:
                raise NoGpuError(
                    NoGpuReason(
                        code="no_devices",
                        message="NVML started but sees no GPU.",
                        fix="In a container, start it with `--gpus all` (or a CDI device such as "
                        "`--device nvidia.com/gpu=all`) and check that NVIDIA_VISIBLE_DEVICES is not "
                        "'void' or 'none'. On a host, run `nvidia-smi -L`.",
                    )
                )
            self._devices = [self._open_device(i) for i in indices]
        except BaseException:
            self.close()
            raise
        for dev in self._devices:
            dev.readers = self._make_readers(dev, metrics)
        self.driver_version = self._optional(self._nvml.nvmlSystemGetDriverVersion)
        cuda = self._optional(self._nvml.nvmlSystemGetCudaDriverVersion)
        self.cuda_driver_version = f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None
        self.label = f"NVML, driver {self.driver_version or '?'}"

    # -- setup -------------------------------------------------------------

    def _optional(self, fn, *args):
        try:
            value = fn(*args)
        except self._error_type:
            return None
        return value.decode() if isinstance(value, bytes) else value

    def _open_device(self, index: int) -> _Device:
        nv = self._nvml
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        name = self._optional(nv.nvmlDeviceGetName, handle) or f"GPU {index}"
        uuid = self._optional(nv.nvmlDeviceGetUUID, handle) or f"GPU-index-{index}"
        limit_mw = self._optional(nv.nvmlDeviceGetEnforcedPowerLimit, handle)
        info = DeviceInfo(
            index=index, uuid=uuid, name=name, power_limit_w=None if limit_mw is None else limit_mw / 1000.0
        )
        # labels the Prometheus exporter shares with dcgm-exporter (pci_bus_id, device=nvidia<minor>)
        pci = self._optional(getattr(nv, "nvmlDeviceGetPciInfo", lambda _h: None), handle)
        bus_id = getattr(pci, "busId", None)
        if bus_id is not None:
            info.extra["pci_bus_id"] = bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)
        minor = self._optional(getattr(nv, "nvmlDeviceGetMinorNumber", lambda _h: None), handle)
        if minor is not None:
            info.extra["minor_number"] = int(minor)
        return _Device(handle, info)

    def _make_readers(self, dev: _Device, metrics: tuple[str, ...]):
        nv, h = self._nvml, dev.handle
        v2 = getattr(nv, "nvmlMemory_v2", None)

        # Each reader fills the sample's keyword arguments in place (no dict per call).
        def memory_v2(out):
            m = nv.nvmlDeviceGetMemoryInfo(h, version=v2)
            out["memory_used_bytes"], out["memory_total_bytes"] = m.used, m.total
            out["memory_reserved_bytes"] = m.reserved

        def memory_v1(out):
            m = nv.nvmlDeviceGetMemoryInfo(h)
            out["memory_used_bytes"], out["memory_total_bytes"] = m.used, m.total

        def utilization(out):
            u = nv.nvmlDeviceGetUtilizationRates(h)
            out["utilization_pct"], out["memory_busy_pct"] = float(u.gpu), float(u.memory)

        def temperature(out):
            out["temperature_c"] = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))

        def power(out):
            out["power_w"] = nv.nvmlDeviceGetPowerUsage(h) / 1000.0

        def sm_clock(out):
            out["sm_clock_mhz"] = float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))

        table = {
            "memory": memory_v2 if v2 is not None else memory_v1,
            "utilization": utilization,
            "temperature": temperature,
            "power": power,
            "sm_clock": sm_clock,
        }
        unknown = set(metrics) - set(table)
        if unknown:
            raise ValueError(f"unknown metric group(s) {sorted(unknown)}; choose from {sorted(table)}")
        if v2 is not None:
            dev.memory_fallback = memory_v1
        return [(m, table[m]) for m in metrics]

    # -- the hot path ------------------------------------------------------

    def _read_device(self, dev: _Device, now: float) -> GpuSample:
        info = dev.info
        if dev.failure is not None:
            return GpuSample(
                timestamp=now, index=info.index, uuid=info.uuid, name=info.name, healthy=False, error=dev.failure
            )
        values: dict = {"power_limit_w": info.power_limit_w}
        # dev.readers is replaced, never changed in place, so iterating it here is safe
        for metric, read in dev.readers:
            try:
                read(values)
            except self._error_type as exc:
                code = error_code(exc)
                if metric == "memory" and code in _V2_MISSING and dev.memory_fallback:
                    # v2 is missing on older drivers: switch this device to v1 for good.
                    v1, dev.memory_fallback = dev.memory_fallback, None
                    dev.readers = [(m, v1 if m == "memory" else r) for m, r in dev.readers]
                    try:
                        v1(values)
                        continue
                    except self._error_type as exc2:
                        exc, code = exc2, error_code(exc2)
                if code in DEVICE_FATAL:
                    dev.failure = f"{type(exc).__name__}: {exc} (while reading {metric})"
                    return GpuSample(
                        timestamp=now,
                        index=info.index,
                        uuid=info.uuid,
                        name=info.name,
                        healthy=False,
                        error=dev.failure,
                    )
                if code in UNSUPPORTED:
                    dev.unsupported.add(metric)
                    dev.readers = [(m, r) for m, r in dev.readers if m != metric]
                else:
                    dev.transient_errors += 1
        return GpuSample(now, info.index, info.uuid, info.name, **values)

    def snapshot(self, processes: bool = False) -> Snapshot:
        if not self._open:
            raise RuntimeError("this NvmlBackend is closed; open a new one with open_backend()")
        start = time.perf_counter()
        now = time.time()
        gpus = tuple(self._read_device(dev, now) for dev in self._devices)
        procs = self._processes() if processes else None
        return Snapshot(timestamp=now, source="nvml", gpus=gpus, processes=procs, elapsed_s=time.perf_counter() - start)

    # -- extras, off the hot path -----------------------------------------

    def _processes(self) -> tuple[ProcessSample, ...]:
        out: list[ProcessSample] = []
        for dev in self._devices:
            if dev.failure is not None or "processes" in dev.unsupported:
                continue
            try:
                procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(dev.handle)
            except self._error_type as exc:
                if error_code(exc) in UNSUPPORTED:
                    dev.unsupported.add("processes")
                continue
            for p in procs:
                name = process_name(p.pid)
                out.append(
                    ProcessSample(
                        gpu_index=dev.info.index,
                        pid=p.pid,
                        used_memory_bytes=p.usedGpuMemory,
                        name=name,
                        visible=name is not None,
                    )
                )
        return tuple(out)

    def pcie_throughput(self, index: int) -> dict[str, float | None]:
        """PCIe TX/RX in MB/s for one GPU. Slow on purpose (blocks ~21 ms per
        direction: the driver counts over a 20 ms window); never call it from
        the sampler's fast path."""
        nv = self._nvml
        dev = self._device(index)
        result: dict[str, float | None] = {}
        for key, counter in (("tx_mb_s", nv.NVML_PCIE_UTIL_TX_BYTES), ("rx_mb_s", nv.NVML_PCIE_UTIL_RX_BYTES)):
            kib = self._optional(nv.nvmlDeviceGetPcieThroughput, dev.handle, counter)
            result[key] = None if kib is None else kib / 1024.0
        return result

    def _device(self, index: int) -> _Device:
        for dev in self._devices:
            if dev.info.index == index:
                return dev
        raise ValueError(f"GPU {index} is not watched by this backend")

    def devices(self) -> list[DeviceInfo]:
        return [d.info for d in self._devices]

    def device_count(self) -> int:
        return len(self._devices)

    def unsupported(self) -> dict[int, set[str]]:
        """Which metric groups each device turned out not to support."""
        return {d.info.index: set(d.unsupported) for d in self._devices}

    def failures(self) -> dict[int, str]:
        return {d.info.index: d.failure for d in self._devices if d.failure is not None}

    def close(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            try:
                self._nvml.nvmlShutdown()
            except self._error_type:
                pass


def process_name(pid: int) -> str | None:
    """The command name of ``pid`` if this process can see it (it usually
    cannot inside a container, where NVML reports host PIDs)."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    except OSError:
        return None if pid != os.getpid() else "python"
