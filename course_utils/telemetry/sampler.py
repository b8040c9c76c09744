"""One background thread that reads a backend on a fixed schedule.

The sampler is the only thing that talks to the backend. Subscribers (CSV
logger, statistics, alerts, widgets) are called from the sampler thread with
each :class:`Snapshot`; they must be quick and must not print or display
(in Jupyter, output from a thread lands in whichever cell runs at the time).
A subscriber that raises is recorded in ``subscriber_errors``, never printed,
and the others still run.
"""

from __future__ import annotations

import collections
import threading
import time
import weakref
from collections.abc import Callable

from .backend import Backend
from .periodic import PeriodicThread, RunsPeriodically
from .samples import Snapshot

Subscriber = Callable[[Snapshot], None]

# name -> sampler: a notebook cell run twice makes a new sampler under the same
# name, and the first one must not keep running unseen.
_REGISTRY: weakref.WeakValueDictionary[str, Sampler] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


class Sampler(RunsPeriodically):
    """Reads ``backend`` every ``interval`` seconds into a bounded history.

    ``capacity`` bounds the history (default one hour at the interval, at most
    100,000 snapshots). ``processes_every`` reads the per-process table every N
    ticks (0: never), since that call is the slowest of the default ones.
    """

    def __init__(
        self,
        backend: Backend,
        interval: float = 0.5,
        *,
        capacity: int | None = None,
        name: str | None = "default",
        processes_every: int = 0,
    ):
        if not interval or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if interval < 0.01:
            raise ValueError(
                f"interval {interval} s is below 10 ms; NVML's own counters average "
                "over 1/6 s or more, so sampling that fast adds no information"
            )
        self.backend = backend
        self.interval = float(interval)
        if capacity is None:
            capacity = min(100_000, max(10, int(3600 / self.interval)))
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.history: collections.deque[Snapshot] = collections.deque(maxlen=capacity)
        self.name = name
        self.processes_every = processes_every
        self.ticks = 0
        self.subscriber_errors: collections.deque[tuple[float, str, BaseException]] = collections.deque(maxlen=50)
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._runner = PeriodicThread(
            self._tick,
            self.interval,
            name=f"gpu-sampler-{name}",
            on_error=lambda exc: self.subscriber_errors.append((time.time(), "backend", exc)),
        )
        if name is not None:
            with _REGISTRY_LOCK:
                old = _REGISTRY.get(name)
                _REGISTRY[name] = self
            if old is not None and old is not self:
                old.stop()

    # -- subscribers -------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(snapshot)`` on every tick; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # -- lifecycle ---------------------------------------------------------

    # running, thread, missed_ticks, cpu_time_s, start() and stop() come from RunsPeriodically

    def close(self) -> None:
        self.stop()
        if self.name is not None:
            with _REGISTRY_LOCK:
                if _REGISTRY.get(self.name) is self:
                    del _REGISTRY[self.name]

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sampling ----------------------------------------------------------

    def sample_once(self) -> Snapshot:
        """Take one snapshot now and deliver it (also usable without the thread)."""
        want_procs = self.processes_every > 0 and self.ticks % self.processes_every == 0
        snap = self.backend.snapshot(processes=want_procs)
        self.ticks += 1
        self.history.append(snap)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(snap)
            except Exception as exc:
                self.subscriber_errors.append((snap.timestamp, getattr(callback, "__name__", repr(callback)), exc))
        return snap

    def _tick(self) -> None:
        self.sample_once()

    # -- reading -----------------------------------------------------------

    @property
    def latest(self) -> Snapshot | None:
        return self.history[-1] if self.history else None

    def window(self, seconds: float) -> list[Snapshot]:
        """The snapshots of the last ``seconds`` (by the snapshots' timestamps)."""
        snaps = list(self.history)
        if not snaps:
            return []
        cutoff = snaps[-1].timestamp - seconds
        return [s for s in snaps if s.timestamp >= cutoff]

    def __del__(self):
        runner = getattr(self, "_runner", None)  # absent if __init__ raised
        if runner is not None:
            runner.signal_stop()


def running_samplers() -> list[Sampler]:
    """Samplers whose thread runs now (for tests and for a notebook's tidy-up)."""
    with _REGISTRY_LOCK:
        return [s for s in _REGISTRY.values() if s.running]
