"""Diagnostics: the GPU doctor and driver/CUDA compatibility."""

from .compat import check_compute_capability, check_runtime_on_driver
from .doctor import Check, Context, doctor_report, format_report, run_checks

__all__ = [
    "Check",
    "Context",
    "check_compute_capability",
    "check_runtime_on_driver",
    "doctor_report",
    "format_report",
    "run_checks",
]
