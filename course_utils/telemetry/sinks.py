"""Subscribers for the sampler: a CSV log, summary statistics, threshold alerts.

Each is a callable taking a :class:`Snapshot`, so ``sampler.subscribe(sink)``
is all the wiring there is, and each works just as well fed by hand in a test.
"""

from __future__ import annotations

import csv
import io
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .samples import METRICS, GpuSample, Snapshot

CSV_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "time_utc",
    "source",
    "gpu",
    "uuid",
    "name",
    *METRICS,
    "healthy",
)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else ""
    return str(value)


class CsvLogger:
    """Appends one row per GPU per snapshot to ``path``.

    The header is written once (an existing log with the same header is
    appended to; one with another header is refused rather than mixed). Every
    snapshot's rows go to the file as soon as they are made, in one ``write``
    system call when the kernel takes it all (a short write is continued), so a
    process killed with SIGKILL leaves a file whose complete rows all parse.
    When a write fails part-way (disk full, a file-size limit), the file is cut
    back to its last complete row and the error raised: no torn row is left to
    merge with the next one. Unsupported metrics are empty fields, not zeros.

    Durability: rows are in the kernel's page cache as soon as ``write``
    returns, so a crashed or killed *process* loses nothing. The file is
    ``fsync``-ed on :meth:`close`, not per row (an fsync per sample would cost
    milliseconds, on network storage far more, at up to 100 samples a second):
    a power cut or kernel crash can lose the rows of the last ~30 s (Linux's
    default write-back delay) and leave a torn last row, which
    :func:`read_metrics_csv` skips and reports.
    """

    def __init__(self, path: str | os.PathLike, columns: Iterable[str] = CSV_COLUMNS):
        self.path = Path(path)
        self.columns = tuple(columns)
        unknown = [c for c in self.columns if c not in CSV_COLUMNS]
        if unknown:
            raise ValueError(f"unknown CSV column(s) {unknown}; choose from {', '.join(CSV_COLUMNS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = ",".join(self.columns) + "\n"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()
        self.rows_written = 0
        self._torn = False  # a failed write could not be cut back: start the next row on a new line
        try:
            self._start(header)
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def _start(self, header: str) -> None:
        if os.fstat(self._fd).st_size == 0:
            self._append(header.encode())
            return
        with open(self.path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
        if first != header:
            raise ValueError(
                f"{self.path} already holds a log with other columns ({first.strip()[:80]!r}); "
                "write to a new file name, or move the old log away first. Nothing was changed."
            )
        if not _ends_with_newline(self.path):
            # a previous writer died mid-row: start ours on a fresh line
            self._append(b"\n")

    def row_values(self, snap: Snapshot, gpu: GpuSample) -> list[str]:
        values = []
        for col in self.columns:
            if col == "timestamp":
                values.append(f"{snap.timestamp:.3f}")
            elif col == "time_utc":
                values.append(datetime.fromtimestamp(snap.timestamp, UTC).isoformat(timespec="milliseconds"))
            elif col == "source":
                values.append(snap.source)
            elif col == "gpu":
                values.append(str(gpu.index))
            elif col == "healthy":
                values.append("1" if gpu.healthy else "0")
            else:
                values.append(_fmt(getattr(gpu, col)))
        return values

    def __call__(self, snap: Snapshot) -> None:
        if not snap.gpus:
            return
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for gpu in snap.gpus:
            writer.writerow(self.row_values(snap, gpu))
        data = buf.getvalue().encode()
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"CSV log {self.path} is closed")
            self._append(data)
            self.rows_written += len(snap.gpus)

    def _append(self, data: bytes) -> None:
        """Write all of ``data`` at the end of the file, or none of it (then raise OSError)."""
        if self._torn:
            data = b"\n" + data
        good = os.fstat(self._fd).st_size  # the file up to its last complete row
        view = memoryview(data)
        try:
            while view:  # os.write may take only part (a signal, a size limit reached)
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, good)
                self._torn = False
            except OSError:
                self._torn = True
            raise OSError(
                exc.errno,
                f"CSV log {self.path}: a row could not be written ({exc.strerror}); "
                "the file keeps every complete row before it",
            ) from exc
        self._torn = False

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    os.fsync(self._fd)  # what was logged survives a power cut from here on
                except OSError:
                    pass  # not every file supports fsync (a pipe, some network mounts)
                os.close(self._fd)
                self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


@dataclass
class MetricsLog:
    """What :func:`read_metrics_csv` recovered, and what it could not."""

    rows: list[dict]
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)

    def gpus(self) -> list[int]:
        return sorted({r["gpu"] for r in self.rows})

    def series(self, metric: str, gpu: int) -> list[tuple[float, float | None]]:
        return [(r["timestamp"], r[metric]) for r in self.rows if r["gpu"] == gpu]


def read_metrics_csv(path: str | os.PathLike) -> MetricsLog:
    """Read a log written by :class:`CsvLogger`.

    A torn last line (the writer was killed) or a damaged row is skipped and
    reported in ``bad_lines`` with its line number; every good row is kept.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no metrics log at {path}: start a CsvLogger there first")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty: it has no header line")
    header = next(csv.reader([lines[0]]))
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown or "gpu" not in header or "timestamp" not in header:
        raise ValueError(f"{path} does not look like a course metrics log (header {header[:6]}...)")
    log = MetricsLog(rows=[])
    last = len(lines) - 1
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            if number - 1 != last:
                log.bad_lines.append((number, "empty line"))
            continue
        if number - 1 == last:
            log.bad_lines.append((number, "incomplete last line (the writer stopped mid-row)"))
            continue
        fields_ = next(csv.reader([line]))
        if len(fields_) != len(header):
            log.bad_lines.append((number, f"{len(fields_)} fields, expected {len(header)}"))
            continue
        try:
            log.rows.append(_parse_row(dict(zip(header, fields_, strict=True))))
        except ValueError as exc:
            log.bad_lines.append((number, str(exc)))
    return log


def _parse_row(raw: dict[str, str]) -> dict:
    row: dict = {}
    for key, value in raw.items():
        if key in ("source", "uuid", "name", "time_utc"):
            row[key] = value
        elif key == "gpu":
            row[key] = int(value)
        elif key == "healthy":
            row[key] = value == "1"
        elif key == "timestamp":
            row[key] = float(value)
        else:
            row[key] = float(value) if value != "" else None
    return row


# -- statistics -------------------------------------------------------------


@dataclass
class MetricStats:
    count: int = 0
    total: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last: float | None = None

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.last = value

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def as_dict(self) -> dict:
        if not self.count:
            return {"count": 0, "mean": None, "min": None, "max": None, "last": None}
        return {"count": self.count, "mean": self.mean, "min": self.min, "max": self.max, "last": self.last}


class SummaryStats:
    """Running mean/min/max/last of each metric of each GPU (``None`` values skipped)."""

    def __init__(self, metrics: Iterable[str] = METRICS):
        self.metrics = tuple(metrics)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(METRICS)}")
        self._stats: dict[int, dict[str, MetricStats]] = {}
        self._lock = threading.Lock()
        self.snapshots = 0

    def __call__(self, snap: Snapshot) -> None:
        with self._lock:
            self.snapshots += 1
            for gpu in snap.gpus:
                per_gpu = self._stats.setdefault(gpu.index, {m: MetricStats() for m in self.metrics})
                for metric in self.metrics:
                    value = getattr(gpu, metric)
                    if value is not None:
                        per_gpu[metric].add(float(value))

    def summary(self) -> dict[int, dict[str, dict]]:
        """``{gpu: {metric: {count, mean, min, max, last}}}``."""
        with self._lock:
            return {g: {m: s.as_dict() for m, s in per.items()} for g, per in self._stats.items()}

    def table(self) -> str:
        """A plain-text table, one line per GPU and metric."""
        lines = [f"{'gpu':>3}  {'metric':<18}{'mean':>10}{'min':>10}{'max':>10}{'last':>10}"]
        for g, per in sorted(self.summary().items()):
            for m, s in per.items():
                if s["count"]:
                    lines.append(
                        f"{g:>3}  {m:<18}{s['mean']:>10.1f}{s['min']:>10.1f}{s['max']:>10.1f}{s['last']:>10.1f}"
                    )
                else:
                    lines.append(f"{g:>3}  {m:<18}{'n/a':>10}{'':>10}{'':>10}{'':>10}")
        return "\n".join(lines)


# -- alerts -----------------------------------------------------------------


@dataclass(frozen=True)
class AlertRule:
    """Raise when ``metric`` goes above ``high``; clear only when it falls below
    ``clear`` (hysteresis, so a value hovering at the threshold does not flap)."""

    metric: str
    high: float
    clear: float
    gpu: int | None = None  # None: every GPU
    label: str = ""

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; choose from {', '.join(METRICS)}")
        if self.clear > self.high:
            raise ValueError(
                f"clear ({self.clear}) must not be above high ({self.high}) or the alert could never settle"
            )

    @property
    def name(self) -> str:
        return self.label or f"{self.metric} > {self.high:g}"


@dataclass(frozen=True)
class AlertEvent:
    timestamp: float
    gpu: int
    rule: AlertRule
    value: float
    state: str  # "raised" or "cleared"

    def __str__(self) -> str:
        return f"GPU {self.gpu}: {self.rule.name} {self.state} (value {self.value:.1f})"


class ThresholdAlerts:
    """Watches rules against each snapshot; keeps the active alerts and a
    bounded list of events, and calls ``on_event`` for each raise or clear."""

    def __init__(
        self, rules: Iterable[AlertRule], on_event: Callable[[AlertEvent], None] | None = None, max_events: int = 1000
    ):
        self.rules = tuple(rules)
        self.on_event = on_event
        self._active: dict[tuple[int, AlertRule], AlertEvent] = {}
        self.events: list[AlertEvent] = []
        self._max_events = max_events
        self._lock = threading.Lock()

    def __call__(self, snap: Snapshot) -> None:
        fired: list[AlertEvent] = []
        with self._lock:
            for gpu in snap.gpus:
                for rule in self.rules:
                    if rule.gpu is not None and rule.gpu != gpu.index:
                        continue
                    value = getattr(gpu, rule.metric)
                    if value is None:
                        continue
                    key = (gpu.index, rule)
                    if key not in self._active and value > rule.high:
                        event = AlertEvent(snap.timestamp, gpu.index, rule, float(value), "raised")
                        self._active[key] = event
                        fired.append(event)
                    elif key in self._active and value < rule.clear:
                        del self._active[key]
                        fired.append(AlertEvent(snap.timestamp, gpu.index, rule, float(value), "cleared"))
            self.events.extend(fired)
            del self.events[: -self._max_events]
        if self.on_event is not None:
            for event in fired:
                self.on_event(event)

    @property
    def active(self) -> list[AlertEvent]:
        with self._lock:
            return sorted(self._active.values(), key=lambda e: (e.gpu, e.rule.name))
