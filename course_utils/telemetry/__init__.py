"""GPU telemetry without Jupyter: backends -> sampler -> sinks.

>>> from course_utils.telemetry import open_backend, Sampler
>>> backend = open_backend(simulate=2)           # or open_backend() for real GPUs
>>> snap = backend.snapshot()
>>> [g.simulated for g in snap.gpus]
[True, True]
"""

from .backend import Backend
from .errors import NoGpuError
from .loop_backend import LoopDrivenBackend
from .nogpu_backend import NoGpuBackend, no_gpu_reason
from .nvml_backend import NvmlBackend
from .sampler import Sampler, running_samplers
from .samples import METRICS, DeviceInfo, GpuSample, NoGpuReason, ProcessSample, Snapshot
from .select import MODE_ENV, MODE_LABELS, SIMULATED_GPUS_ENV, course_mode, mode_banner, open_backend
from .simulated_backend import SimulatedBackend
from .sinks import (
    CSV_COLUMNS,
    AlertEvent,
    AlertRule,
    CsvLogger,
    MetricsLog,
    SummaryStats,
    ThresholdAlerts,
    read_metrics_csv,
)

__all__ = [
    "CSV_COLUMNS",
    "METRICS",
    "MODE_ENV",
    "MODE_LABELS",
    "SIMULATED_GPUS_ENV",
    "AlertEvent",
    "AlertRule",
    "Backend",
    "CsvLogger",
    "DeviceInfo",
    "GpuSample",
    "LoopDrivenBackend",
    "MetricsLog",
    "NoGpuBackend",
    "NoGpuError",
    "NoGpuReason",
    "NvmlBackend",
    "ProcessSample",
    "Sampler",
    "SimulatedBackend",
    "Snapshot",
    "SummaryStats",
    "ThresholdAlerts",
    "course_mode",
    "mode_banner",
    "no_gpu_reason",
    "open_backend",
    "read_metrics_csv",
    "running_samplers",
]
