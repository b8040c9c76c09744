"""Helpers for the GPU Acceleration for AI Containers course.

Sub-packages, each usable without Jupyter unless it says otherwise:

* ``course_utils.telemetry``: GPU backends (NVML, simulated, none), the sampler, CSV/stats/alerts.
* ``course_utils.diagnostics``: the GPU doctor (``python -m course_utils doctor``).
* ``course_utils.widgets``: live ipywidgets dashboard (needs Jupyter).
* ``course_utils.memory``: framework memory settings, reports, OOM-safe chunking.
* ``course_utils.distributed``: models and single/DataParallel/DDP training, torchrun launch.
* ``course_utils.data``: synthetic (always there) or on-disk image data for the trainers.
* ``course_utils.containers``: ``docker run`` GPU arguments and checks of docker commands.
* ``course_utils.exercises``: the notebooks' self-checks, one module per notebook.
* ``course_utils.bench``: benchmarks that print figures (``python -m course_utils bench``).

docs/architecture.md maps every concept to its module.
"""

__version__ = "0.1.0"
