"""A daemon thread that calls a function on a fixed schedule, and stops promptly.

Shared by the sampler (which reads the GPUs) and the widgets' refresher (which
redraws): both need the same things, done once here:

* start/stop are idempotent; stop sets an Event (so it does not wait out the
  interval) and joins the thread;
* a fixed schedule: when a call runs late, the missed ticks are skipped and
  counted rather than run in a burst;
* the thread measures its own CPU time (``time.thread_time``): process-wide CPU
  time on a small VM is too noisy to resolve a tenth of a percent;
* an exception from the function goes to ``on_error``, never to stdout: in
  Jupyter, output from a thread lands in whichever cell runs at that moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Self


class PeriodicThread:
    def __init__(self, fn: Callable[[], None], interval: float, name: str, on_error: Callable[[BaseException], None]):
        self.fn = fn
        self.interval = float(interval)
        self.name = name
        self.on_error = on_error
        self.ticks = 0
        self.missed_ticks = 0
        self.cpu_time_s = 0.0  # CPU seconds of this thread alone, over all its runs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"{self.name} did not stop within {timeout} s (the function it calls is blocking)")
        self._thread = None

    def signal_stop(self) -> None:
        """Ask the thread to stop without waiting (safe from a finaliser)."""
        self._stop.set()

    def _run(self) -> None:
        base, cpu0 = self.cpu_time_s, time.thread_time()
        next_tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self.fn()
            except Exception as exc:
                self.on_error(exc)
            self.ticks += 1
            self.cpu_time_s = base + time.thread_time() - cpu0
            next_tick += self.interval
            now = time.monotonic()
            if now > next_tick:  # fell behind: skip the missed ticks rather than burst
                missed = int((now - next_tick) / self.interval) + 1
                self.missed_ticks += missed
                next_tick += missed * self.interval
            self._stop.wait(next_tick - now)


class RunsPeriodically:
    """For a class whose work runs on a :class:`PeriodicThread` kept as ``self._runner``
    (the sampler, the widgets' refresher): the thread's state and start/stop, delegated."""

    _runner: PeriodicThread

    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def thread(self) -> threading.Thread | None:
        return self._runner.thread

    @property
    def missed_ticks(self) -> int:
        return self._runner.missed_ticks

    @property
    def cpu_time_s(self) -> float:
        """CPU seconds of this thread alone, over all its runs."""
        return self._runner.cpu_time_s

    def start(self) -> Self:
        """Start the thread (does nothing if it already runs)."""
        self._runner.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join the thread (does nothing if it is not running)."""
        self._runner.stop(timeout)
