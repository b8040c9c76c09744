"""Live GPU widgets for JupyterLab (the only Jupyter-dependent part of course_utils).

* ``Dashboard(source=None, simulate=None, ...)``: per-GPU memory, utilisation, power, temperature
  and SM clock with history, a process table, alerts, a time window, start/pause/stop.
* ``StatusLine(...)``: a compact one-line status with a utilisation sparkline per GPU.
* ``show_peak_memory(label, device)``: shows the peak GPU memory of a ``with`` block.
* ``DashboardModel``: what the dashboard shows, in plain Python (no Jupyter import), fed by a
  ``Sampler``; usable from scripts and tests.
* ``close_all()``: close every dashboard and status line still running.
* ``freeze_all()``: stop them all but keep each on the page at its last state (a notebook's last cell).

Names load on first use: ``from course_utils.widgets import DashboardModel`` works where
ipywidgets is not installed (the GPU machine).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Dashboard": ".dashboard",
    "StatusLine": ".status",
    "show_peak_memory": ".peak",
    "peak_html": ".peak",
    "DashboardModel": ".model",
    "Frame": ".model",
    "GpuRow": ".model",
    "ProcessRow": ".model",
    "ChartData": ".model",
    "CHARTS": ".model",
    "WINDOWS": ".model",
    "DEFAULT_RULES": ".model",
    "Refresher": ".refresh",
    "ProgressView": ".progress",
    "close_all": ".sources",
    "freeze_all": ".sources",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'course_utils.widgets' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module, __name__), name)
    except ModuleNotFoundError as exc:
        if exc.name in ("ipywidgets", "IPython"):
            raise ImportError(
                f"course_utils.widgets.{name} needs Jupyter widgets ({exc.name} is not installed): "
                "pip install ipywidgets==8.1.9 ipykernel==6.31.0, or use DashboardModel, which "
                "needs no Jupyter."
            ) from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
