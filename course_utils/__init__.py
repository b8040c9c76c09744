"""Helpers for the GPU Acceleration for AI Containers course.

Sub-packages, each usable without Jupyter unless it says otherwise:

* ``course_utils.telemetry``: GPU backends (NVML, simulated, none), the sampler, CSV/stats/alerts.
* ``course_utils.diagnostics``: the GPU doctor (``python -m course_utils doctor``).
* ``course_utils.widgets``: live ipywidgets dashboard (needs Jupyter).
* ``course_utils.memory``: framework memory settings, reports, OOM-safe chunking.
* ``course_utils.distributed``: data, models and DDP/DataParallel training helpers.
"""

__version__ = "0.1.0"
