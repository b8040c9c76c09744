"""The view's own thread: calls a function at a fixed rate, never prints.

The sampler thread samples; this thread only *reads* the model and sets
widget traits. In Jupyter, anything a background thread prints or displays
lands in whichever cell happens to run at that moment, so errors are kept in
``errors`` (and shown by the view as text), never raised or printed.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

MIN_HZ, MAX_HZ = 0.5, 10.0


class Refresher:
    """Runs ``fn()`` ``hz`` times a second on a daemon thread until stopped."""

    def __init__(self, fn: Callable[[], None], hz: float = 4.0, name: str = "gpu-widget-refresh"):
        if not isinstance(hz, (int, float)) or not MIN_HZ <= hz <= MAX_HZ:
            raise ValueError(f"refresh rate must be {MIN_HZ} to {MAX_HZ} Hz (2-4 Hz suits NVML's counters, "
                             f"which average over 1/6 to 1 s), got {hz!r}")
        self.fn = fn
        self.hz = float(hz)
        self.name = name
        self.ticks = 0
        self.cpu_time_s = 0.0  # CPU seconds of this thread alone, over all its runs
        self.errors: collections.deque[tuple[float, BaseException]] = collections.deque(maxlen=20)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> Refresher:
        with self._lock:
            if self.running:
                return self
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"{self.name} did not stop within {timeout} s")
        self._thread = None

    def _run(self) -> None:
        period = 1.0 / self.hz
        cpu0 = time.thread_time()
        base = self.cpu_time_s
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self.fn()
            except Exception as exc:  # shown by the view, never printed from here
                self.errors.append((time.time(), exc))
            self.ticks += 1
            self.cpu_time_s = base + time.thread_time() - cpu0
            next_tick += period
            now = time.monotonic()
            if now > next_tick:  # fell behind (busy kernel): skip ticks rather than burst
                next_tick = now
            self._stop.wait(next_tick - now)
