"""The view's own thread: calls a function at a fixed rate, never prints.

The sampler thread samples; this thread only *reads* the model and sets
widget traits. In Jupyter, anything a background thread prints or displays
lands in whichever cell happens to run at that moment, so errors are kept in
``errors`` (and shown by the view as text), never raised or printed.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from ..telemetry.periodic import PeriodicThread, RunsPeriodically

MIN_HZ, MAX_HZ = 0.5, 10.0


class Refresher(RunsPeriodically):
    """Runs ``fn()`` ``hz`` times a second on a daemon thread until stopped."""

    def __init__(self, fn: Callable[[], None], hz: float = 4.0, name: str = "gpu-widget-refresh"):
        if not isinstance(hz, (int, float)) or not MIN_HZ <= hz <= MAX_HZ:
            raise ValueError(
                f"refresh rate must be {MIN_HZ} to {MAX_HZ} Hz (2-4 Hz suits NVML's counters, "
                f"which average over 1/6 to 1 s), got {hz!r}"
            )
        self.fn = fn
        self.hz = float(hz)
        self.name = name
        self.errors: collections.deque[tuple[float, BaseException]] = collections.deque(maxlen=20)
        self._runner = PeriodicThread(
            fn, 1.0 / self.hz, name, on_error=lambda exc: self.errors.append((time.time(), exc))
        )

    @property
    def ticks(self) -> int:
        return self._runner.ticks
