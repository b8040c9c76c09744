"""Plain data that flows from a backend through the sampler to its subscribers.

Nothing here imports pynvml or Jupyter: samples are dataclasses that a test, a
CSV logger or a widget can use alike. A metric a device cannot report is
``None``, never 0, so "no data" and "idle" stay different things.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from ..units import MIB

# Which family of backend read a snapshot: real GPUs through NVML, simulated GPUs, or none.
BackendKind = Literal["nvml", "simulated", "none"]

# Why there is no GPU to read: an NVML start-up failure (see errors.py), no device, no binding,
# GPU reading switched off, or an NVML error without a known cause.
NoGpuCode = Literal[
    "library_not_found",
    "driver_not_loaded",
    "no_permission",
    "driver_library_mismatch",
    "unknown_error",
    "no_devices",
    "nvml_not_installed",
    "cpu_mode",
    "error",
]

# The metrics the sampler reads on its default path, in the order they are
# shown and logged. Throughput (PCIe/NVLink) is deliberately absent: one PCIe
# call blocks ~21 ms while the driver counts a 20 ms window.
METRICS: tuple[str, ...] = (
    "memory_used_mib",
    "memory_total_mib",
    "memory_used_pct",
    "utilization_pct",
    "memory_busy_pct",
    "temperature_c",
    "power_w",
    "power_limit_w",
    "sm_clock_mhz",
)


# Samples are read-only by convention but not frozen: a frozen dataclass pays a
# object.__setattr__ per field on construction, which tripled the cost of a
# snapshot against the raw NVML calls (measured on an H200, docs/performance.md).
@dataclass(slots=True)
class GpuSample:
    """One reading of one GPU.

    ``memory_busy_pct`` is NVML's ``utilization.memory``: the share of time the
    memory controller was busy, *not* how full the memory is (that is
    ``memory_used_pct``).
    """

    timestamp: float
    index: int
    uuid: str
    name: str
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    utilization_pct: float | None = None
    memory_busy_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    healthy: bool = True
    error: str | None = None
    simulated: bool = False

    @property
    def memory_used_mib(self) -> float | None:
        return None if self.memory_used_bytes is None else self.memory_used_bytes / MIB

    @property
    def memory_total_mib(self) -> float | None:
        return None if self.memory_total_bytes is None else self.memory_total_bytes / MIB

    @property
    def memory_used_pct(self) -> float | None:
        if self.memory_used_bytes is None or not self.memory_total_bytes:
            return None
        return 100.0 * self.memory_used_bytes / self.memory_total_bytes

    def metric(self, name: str) -> float | None:
        """The value of one metric of ``METRICS`` (or any field) by name."""
        if name not in METRICS and name not in _FIELD_NAMES:
            raise KeyError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
        return getattr(self, name)


_FIELD_NAMES = frozenset(f.name for f in fields(GpuSample))


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """A process that holds memory on a GPU.

    ``pid`` is what NVML reports: inside a container that is the *host* PID,
    which usually matches no process the container can see; ``name`` is then
    ``None`` and ``visible`` is False.
    """

    gpu_index: int
    pid: int
    used_memory_bytes: int | None
    name: str | None = None
    visible: bool = False

    @property
    def used_memory_mib(self) -> float | None:
        return None if self.used_memory_bytes is None else self.used_memory_bytes / MIB


@dataclass(slots=True)
class Snapshot:
    """Everything one sampling tick read, for every GPU of a backend."""

    timestamp: float
    source: BackendKind
    gpus: tuple[GpuSample, ...] = ()
    processes: tuple[ProcessSample, ...] | None = None  # None: not asked for this tick
    elapsed_s: float = 0.0  # how long the backend took to read it

    @property
    def simulated(self) -> bool:
        return self.source == "simulated"


@dataclass(frozen=True, slots=True)
class NoGpuReason:
    """Why there is no GPU to read, and what to do about it."""

    code: NoGpuCode
    message: str
    fix: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}"


@dataclass(slots=True)
class DeviceInfo:
    """What does not change while a GPU is being watched."""

    index: int
    uuid: str
    name: str
    memory_total_bytes: int | None = None
    power_limit_w: float | None = None
    extra: dict = field(default_factory=dict)
