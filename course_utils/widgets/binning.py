"""Time-binned, bounded history: what a chart of the last N minutes needs, and no more.

A chart ~300 px wide cannot show more than ~120 points, so keeping every raw
sample of an hour only to average it again on every redraw wastes memory and
CPU. Instead each sample is folded into fixed-width time bins as it arrives;
a bin closes when a sample of a later bin arrives, and only the last
``n_bins`` closed bins are kept. Memory stays flat however long it runs.

Bins are aligned to multiples of their width in absolute time, so a point
never jumps between redraws: the chart only slides.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

MEAN = "mean"
MAX = "max"


class BinnedSeries:
    """Several metrics binned together (one per ``fields`` entry).

    ``reducers[i]`` is ``"mean"`` or ``"max"``: memory uses the max of a bin
    (the peak is what runs out of memory), rates use the mean. ``None``
    values (metric unsupported) are skipped; a bin with no value is ``None``.
    """

    __slots__ = ("_count", "_max", "_open", "_sum", "closed", "fields", "n_bins", "reducers", "version", "width_s")

    def __init__(self, width_s: float, n_bins: int, fields: Sequence[str], reducers: Sequence[str]):
        if not width_s > 0:
            raise ValueError(f"bin width must be positive, got {width_s!r}")
        if n_bins < 2:
            raise ValueError(f"need at least 2 bins to draw a line, got {n_bins!r}")
        if len(fields) != len(reducers) or any(r not in (MEAN, MAX) for r in reducers):
            raise ValueError("give one reducer ('mean' or 'max') per field")
        self.width_s = float(width_s)
        self.n_bins = int(n_bins)
        self.fields = tuple(fields)
        self.reducers = tuple(reducers)
        # (bin index, values) of closed bins, oldest first; the deque bounds memory
        self.closed: collections.deque[tuple[int, tuple[float | None, ...]]] = collections.deque(maxlen=n_bins)
        self._open: int | None = None
        n = len(self.fields)
        self._sum = [0.0] * n
        self._count = [0] * n
        self._max = [-math.inf] * n
        self.version = 0  # +1 each time a bin closes: the chart needs redrawing

    def bin_of(self, t: float) -> int:
        return math.floor(t / self.width_s)

    def add(self, t: float, values: Sequence[float | None]) -> None:
        b = self.bin_of(t)
        if self._open is None:
            self._open = b
        elif b > self._open:
            self._close(self._open)
            self._open = b
        elif b < self._open:
            return  # a sample from the past (clock stepped back): drop it rather than reorder bins
        for i, v in enumerate(values):
            if v is None:
                continue
            self._sum[i] += v
            self._count[i] += 1
            if v > self._max[i]:
                self._max[i] = v

    def _close(self, index: int) -> None:
        out: list[float | None] = []
        for i, reducer in enumerate(self.reducers):
            if not self._count[i]:
                out.append(None)
            elif reducer == MAX:
                out.append(self._max[i])
            else:
                out.append(self._sum[i] / self._count[i])
            self._sum[i], self._count[i], self._max[i] = 0.0, 0, -math.inf
        self.closed.append((index, tuple(out)))
        self.version += 1

    @property
    def open_bin(self) -> int | None:
        return self._open

    def slots(self, field: str, max_gap_bins: int = 1) -> list[float | None]:
        """The last ``n_bins`` slots of ``field``, oldest first, ending with the
        newest closed bin; ``None`` where there is no data.

        A gap of up to ``max_gap_bins`` empty bins between two samples is
        bridged with the earlier value (sampling jitter leaves such holes when
        the sampler's interval is close to the bin width); longer gaps stay
        ``None`` so the chart shows a break where nothing was recorded.
        """
        i = self.fields.index(field)
        out: list[float | None] = [None] * self.n_bins
        if self._open is None:
            return out
        last = self._open - 1  # newest slot: the bin before the open one
        first = last - self.n_bins + 1
        prev_b, prev_v = None, None
        for b, values in self.closed:
            if b < first:
                prev_b, prev_v = b, values[i]
                continue
            v = values[i]
            out[b - first] = v
            if prev_b is not None and prev_v is not None and v is not None:
                gap = b - prev_b - 1
                if 0 < gap <= max_gap_bins:
                    for k in range(prev_b + 1, b):
                        if k >= first:
                            out[k - first] = prev_v
            prev_b, prev_v = b, v
        return out

    def __len__(self) -> int:
        return len(self.closed)
