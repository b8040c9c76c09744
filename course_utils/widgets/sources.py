"""Where a widget's numbers come from, and who closes what.

A widget is given a backend, a sampler, another widget's model, or nothing
(then it opens a backend itself). Whatever the widget opened, it closes;
a sampler passed in belongs to the caller and is only unsubscribed from.
A backend passed in is handed over: the widget closes it with itself, so a
re-run notebook cell does not leave NVML handles behind.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..telemetry import Backend, Sampler, open_backend

DEFAULT_INTERVAL = 0.5  # s: NVML's counters average over 1/6-1 s; faster adds little
PROCESSES_EVERY_S = 2.0  # the per-process call is the slowest default call: read it less often


@dataclass
class Source:
    backend: Backend | None  # None: a model fed by another dashboard
    sampler: Sampler | None  # None when there is no GPU to sample
    owns_backend: bool
    owns_sampler: bool

    @property
    def kind(self) -> str:
        return getattr(self.backend, "kind", "none")

    def close(self) -> None:
        if self.sampler is not None and self.owns_sampler:
            self.sampler.close()
        if self.owns_backend and self.backend is not None:
            self.backend.close()


def check_source(source=None, simulate: int | None = None) -> None:
    """Refuse what cannot be a source, before anything is opened or closed."""
    if source is not None and simulate is not None:
        raise ValueError("give either a source (backend or sampler) or simulate=N, not both")
    if source is None or isinstance(source, Sampler):
        return
    if not (hasattr(source, "snapshot") and hasattr(source, "kind")):
        raise TypeError(
            f"source must be a telemetry backend (open_backend(...)) or a Sampler, not {type(source).__name__}"
        )


def resolve_source(
    source=None,
    *,
    simulate: int | None = None,
    interval: float = DEFAULT_INTERVAL,
    sampler_name: str | None = None,
    processes_every_s: float = PROCESSES_EVERY_S,
) -> Source:
    """Turn what the caller gave into a backend and a sampler (not started)."""
    check_source(source, simulate)
    if isinstance(source, Sampler):
        return Source(source.backend, source, owns_backend=False, owns_sampler=False)
    if source is None:
        backend = open_backend(simulate=simulate)
        owns_backend = True
    else:
        backend, owns_backend = source, True
    if backend.kind == "none":
        return Source(backend, None, owns_backend=owns_backend, owns_sampler=False)
    every = max(1, round(processes_every_s / interval)) if processes_every_s else 0
    sampler = Sampler(backend, interval=interval, name=sampler_name, processes_every=every)
    return Source(backend, sampler, owns_backend=owns_backend, owns_sampler=True)


class LiveRegistry:
    """name -> the widget shown under that name. Re-running a notebook cell
    makes a new widget with the same name; the old one is closed first, so
    its threads do not keep running unseen."""

    def __init__(self):
        self._items: dict[str, Any] = {}  # widgets with a close()
        self._lock = threading.Lock()

    def close_previous(self, name: str | None) -> None:
        """Close the widget shown under ``name`` (if any) before a new one takes its place."""
        if name is None:
            return
        with self._lock:
            old = self._items.pop(name, None)
        if old is not None:
            old.close()

    def register(self, name: str | None, widget) -> None:
        if name is None:
            return
        with self._lock:
            old = self._items.get(name)
            self._items[name] = widget
        if old is not None and old is not widget:
            old.close()

    def forget(self, name: str | None, widget) -> None:
        with self._lock:
            if name is not None and self._items.get(name) is widget:
                del self._items[name]

    def live(self) -> list:
        with self._lock:
            return list(self._items.values())


LIVE = LiveRegistry()


def close_all() -> int:
    """Close every dashboard and status line still shown; returns how many."""
    items = LIVE.live()
    for w in items:
        w.close()
    return len(items)


def freeze_all() -> int:
    """Stop every dashboard and status line still live, leaving each on the page at its last
    state (the last cell of a notebook: "Run All" ends with the widgets visible, no thread left).
    Returns how many were frozen."""
    items = LIVE.live()
    for w in items:
        w.freeze()
    return len(items)
