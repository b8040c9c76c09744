"""The dashboard's model: everything the live view shows, in plain Python.

No Jupyter import here: the model is fed by a :class:`~course_utils.telemetry.Sampler`
subscription (or by hand in a test) and can be read from a script, a test or
the GPU machine's comparison with ``nvidia-smi``. The ipywidgets view
(:mod:`course_utils.widgets.dashboard`) only turns a :class:`Frame` into HTML.

Threads: ``__call__`` runs on the sampler thread; ``frame()`` and the setters
run on the view's refresh thread or the notebook's main thread. One lock
guards the state; ``frame()`` copies what it returns, so the caller can take
its time rendering without holding the sampler up.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from ..telemetry import AlertEvent, AlertRule, DeviceInfo, GpuSample, ProcessSample, Snapshot, ThresholdAlerts
from ..units import GIB
from .binning import MAX, MEAN, BinnedSeries

# Selectable time windows (label -> seconds), shortest first.
WINDOWS: dict[str, float] = {"1 min": 60.0, "5 min": 300.0, "15 min": 900.0, "1 h": 3600.0}
DEFAULT_WINDOW = "1 min"
DEFAULT_POINTS = 120  # points per chart line: ~2.5 px each on a 300 px chart

# What the binned history keeps per GPU, and how a bin summarises its samples.
BINNED_FIELDS: tuple[tuple[str, str], ...] = (
    ("memory_used_pct", MAX),  # the peak in the bin: peaks are what run out of memory
    ("memory_used_gib", MAX),
    ("utilization_pct", MEAN),
    ("power_w", MEAN),
    ("power_pct", MEAN),  # of the enforced power limit
    ("temperature_c", MEAN),
    ("sm_clock_mhz", MEAN),
)

# Default alerts; hysteresis keeps a value hovering at the threshold from flapping.
DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule("memory_used_pct", high=90.0, clear=85.0, label="memory > 90%"),
    AlertRule("temperature_c", high=85.0, clear=80.0, label="temperature > 85 °C"),
)


@dataclass(frozen=True)
class SeriesSpec:
    field: str
    label: str
    color: str
    fill: bool = False  # drawn as a filled area (memory) rather than a line


@dataclass(frozen=True)
class ChartSpec:
    """What one chart shows. ``y_max``: a number, ``"total"`` (memory total of
    the GPU, GiB), ``"limit"`` (its power limit, W) or ``"auto"`` (the data's
    maximum, at least ``y_floor``)."""

    key: str
    title: str
    unit: str
    series: tuple[SeriesSpec, ...]
    note: str
    y_min: float = 0.0
    y_max: float | str = 100.0
    y_floor: float = 0.0


MEMORY_COLOR, UTIL_COLOR, POWER_COLOR, TEMP_COLOR, CLOCK_COLOR = "#8e5cd9", "#2f9e44", "#f08c00", "#e03131", "#1c7ed6"

CHARTS: dict[str, ChartSpec] = {
    c.key: c
    for c in (
        ChartSpec(
            "load",
            "memory · utilisation · power",
            "%",
            (
                SeriesSpec("memory_used_pct", "memory used % of total", MEMORY_COLOR, fill=True),
                SeriesSpec("utilization_pct", "utilisation %", UTIL_COLOR),
                SeriesSpec("power_pct", "power % of limit", POWER_COLOR),
            ),
            note="Memory is the whole GPU's (all processes and containers), peak per point; utilisation is the "
            "share of time a kernel ran, as NVML averages it over 1/6 to 1 s.",
        ),
        ChartSpec(
            "memory",
            "memory used",
            "GiB",
            (SeriesSpec("memory_used_gib", "memory used (GiB)", MEMORY_COLOR, fill=True),),
            note="Whole-GPU memory in use (all processes), peak per point; the top of the chart is the GPU's total.",
            y_max="total",
        ),
        ChartSpec(
            "power",
            "power draw",
            "W",
            (SeriesSpec("power_w", "power (W)", POWER_COLOR, fill=True),),
            note="Board power; the top of the chart is the enforced power limit.",
            y_max="limit",
        ),
        ChartSpec(
            "temperature",
            "temperature",
            "°C",
            (SeriesSpec("temperature_c", "GPU temperature (°C)", TEMP_COLOR),),
            note="GPU core temperature; it follows power with a lag of tens of seconds.",
            y_min=20.0,
            y_max="auto",
            y_floor=90.0,
        ),
        ChartSpec(
            "clock",
            "SM clock",
            "MHz",
            (SeriesSpec("sm_clock_mhz", "SM clock (MHz)", CLOCK_COLOR),),
            note="Streaming-multiprocessor clock: it boosts under load and drops when hot or power-capped.",
            y_max="auto",
            y_floor=2000.0,
        ),
    )
}
DEFAULT_CHART = "load"


@dataclass(frozen=True)
class GpuRow:
    """The latest reading of one GPU, as the table shows it (``None``: not reported)."""

    index: int
    name: str
    healthy: bool
    error: str | None
    memory_used_gib: float | None
    memory_total_gib: float | None
    memory_used_pct: float | None
    memory_busy_pct: float | None  # NVML utilization.memory: busy time, not fullness
    utilization_pct: float | None
    temperature_c: float | None
    power_w: float | None
    power_limit_w: float | None
    power_pct: float | None
    sm_clock_mhz: float | None
    alerts: tuple[str, ...]
    simulated: bool


class Reading(NamedTuple):
    """One raw reading of one GPU, kept for the last few samples (sparklines, comparisons)."""

    timestamp: float
    utilization_pct: float | None
    memory_used_pct: float | None
    power_w: float | None


@dataclass(frozen=True)
class ProcessRow:
    gpu: int
    pid: int
    name: str  # the command, or why it cannot be named
    used_memory_mib: float | None
    visible: bool  # False: a host PID this container cannot see (NVML reports host PIDs)


@dataclass(frozen=True)
class ChartData:
    gpu: int
    spec: ChartSpec
    y_min: float
    y_max: float
    values: tuple[tuple[float | None, ...], ...]  # one tuple of slots per series, oldest first
    bin_s: float
    window_s: float


@dataclass(frozen=True)
class Frame:
    """A consistent copy of what the view shows at one moment."""

    source: str
    label: str
    window: str
    chart: str
    rows: tuple[GpuRow, ...]
    charts: tuple[ChartData, ...] | None  # None when not asked for
    processes: tuple[ProcessRow, ...] | None  # None: no process table read yet
    processes_timestamp: float | None
    alerts: tuple[AlertEvent, ...]  # active now
    recent_events: tuple[AlertEvent, ...]  # newest last
    hidden_gpus: int  # GPUs beyond max_gpus, not shown
    timestamp: float | None  # of the latest snapshot
    samples: int
    data_version: int
    chart_version: int
    process_version: int
    alert_version: int

    @property
    def simulated(self) -> bool:
        return self.source == "simulated"


def _pct(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return 100.0 * part / whole


def binned_values(gpu: GpuSample) -> tuple[float | None, ...]:
    """The values of :data:`BINNED_FIELDS` for one sample."""
    used = gpu.memory_used_bytes
    return (
        gpu.memory_used_pct,
        None if used is None else used / GIB,
        gpu.utilization_pct,
        gpu.power_w,
        _pct(gpu.power_w, gpu.power_limit_w),
        gpu.temperature_c,
        gpu.sm_clock_mhz,
    )


class _GpuHistory:
    """One GPU: a binned series per window, plus the last few raw readings."""

    def __init__(self, windows: dict[str, float], points: int, min_bin_s: float, recent: int):
        names, reducers = zip(*BINNED_FIELDS, strict=True)
        self.by_window: dict[str, BinnedSeries] = {}
        for label, seconds in windows.items():
            # never narrower than the sampling interval, or every other bin would be empty
            width = max(seconds / points, min_bin_s)
            n = max(2, round(seconds / width))
            self.by_window[label] = BinnedSeries(width, n, names, reducers)
        self.recent: collections.deque[Reading] = collections.deque(maxlen=recent)
        self.latest: GpuSample | None = None

    def add(self, gpu: GpuSample) -> None:
        self.latest = gpu
        if not gpu.healthy:
            return
        values = binned_values(gpu)
        for series in self.by_window.values():
            series.add(gpu.timestamp, values)
        self.recent.append(Reading(gpu.timestamp, gpu.utilization_pct, gpu.memory_used_pct, gpu.power_w))


class DashboardModel:
    """Per-GPU bounded history, window, alerts and process rows, fed by snapshots.

    ``interval`` is the sampler's interval (bins are never narrower);
    ``points`` the points per chart line; ``max_gpus`` how many GPUs to show
    (the layout is made for 1 to 8); ``gpus`` which GPU indices to show.
    """

    def __init__(
        self,
        *,
        interval: float = 0.5,
        window: str = DEFAULT_WINDOW,
        chart: str = DEFAULT_CHART,
        rules: Iterable[AlertRule] | None = DEFAULT_RULES,
        points: int = DEFAULT_POINTS,
        windows: dict[str, float] | None = None,
        max_gpus: int = 8,
        gpus: Iterable[int] | None = None,
        recent: int = 40,
        max_events: int = 50,
        source: str = "",
        label: str = "",
    ):
        if not interval or interval <= 0:
            raise ValueError(f"interval must be the sampler's positive interval in seconds, got {interval!r}")
        if points < 10:
            raise ValueError(f"points must be at least 10 for a readable chart, got {points!r}")
        if not 1 <= max_gpus <= 64:
            raise ValueError(f"max_gpus must be between 1 and 64, got {max_gpus!r}")
        self.windows = dict(windows or WINDOWS)
        if not self.windows:
            raise ValueError("windows must name at least one time window")
        self.interval = float(interval)
        self.points = int(points)
        self.max_gpus = int(max_gpus)
        self.only_gpus = None if gpus is None else frozenset(int(g) for g in gpus)
        self._recent_len = recent
        self._lock = threading.RLock()
        self._window = self._check_window(window)
        self._chart = self._check_chart(chart)
        self._gpus: dict[int, _GpuHistory] = {}
        self._hidden = 0
        self._processes: tuple[ProcessSample, ...] | None = None
        self._processes_timestamp: float | None = None
        self._events: collections.deque[AlertEvent] = collections.deque(maxlen=max_events)
        self._alerts = ThresholdAlerts(rules or (), on_event=self._on_alert, max_events=max_events)
        self._failed: dict[int, str] = {}
        self.source = source
        self.label = label
        self.timestamp: float | None = None
        self.samples = 0
        self.data_version = 0
        self.process_version = 0
        self.alert_version = 0
        self._unsubscribe: Callable[[], None] | None = None

    # -- wiring ------------------------------------------------------------

    def attach(self, sampler) -> DashboardModel:
        """Subscribe to ``sampler`` (its thread then feeds this model)."""
        self.detach()
        self._unsubscribe = sampler.subscribe(self)
        if not self.label:
            self.label = getattr(sampler.backend, "label", "")
        if not self.source:
            self.source = getattr(sampler.backend, "kind", "")
        return self

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def set_devices(self, devices: Iterable[DeviceInfo]) -> None:
        """Create the per-GPU rows before the first sample (optional)."""
        with self._lock:
            for d in devices:
                self._history(d.index)

    # -- choices -----------------------------------------------------------

    def _check_window(self, window: str) -> str:
        if window not in self.windows:
            raise ValueError(f"unknown time window {window!r}; choose one of: {', '.join(self.windows)}")
        return window

    @staticmethod
    def _check_chart(chart: str) -> str:
        if chart not in CHARTS:
            raise ValueError(f"unknown chart {chart!r}; choose one of: {', '.join(CHARTS)}")
        return chart

    @property
    def window(self) -> str:
        return self._window

    @window.setter
    def window(self, value: str) -> None:
        value = self._check_window(value)
        with self._lock:
            self._window = value

    @property
    def chart(self) -> str:
        return self._chart

    @chart.setter
    def chart(self, value: str) -> None:
        value = self._check_chart(value)
        with self._lock:
            self._chart = value

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._alerts.rules

    # -- feeding (sampler thread) -----------------------------------------

    def _history(self, index: int) -> _GpuHistory | None:
        h = self._gpus.get(index)
        if h is None:
            if self.only_gpus is not None and index not in self.only_gpus:
                return None
            if len(self._gpus) >= self.max_gpus:
                return None
            h = self._gpus[index] = _GpuHistory(self.windows, self.points, self.interval, self._recent_len)
        return h

    def __call__(self, snap: Snapshot) -> None:
        with self._lock:
            if snap.source and not self.source:
                self.source = snap.source
            hidden = 0
            for gpu in snap.gpus:
                h = self._history(gpu.index)
                if h is None:
                    hidden += 1 if self.only_gpus is None or gpu.index in self.only_gpus else 0
                    continue
                h.add(gpu)
                if not gpu.healthy and gpu.index not in self._failed:
                    self._failed[gpu.index] = gpu.error or "not responding"
                    self.alert_version += 1
            self._hidden = hidden
            if snap.processes is not None:
                procs = tuple(p for p in snap.processes if p.gpu_index in self._gpus)
                if procs != self._processes:
                    self.process_version += 1
                self._processes = procs
                self._processes_timestamp = snap.timestamp
            shown = tuple(g for g in snap.gpus if g.index in self._gpus)
            self._alerts(Snapshot(snap.timestamp, snap.source, shown))  # calls _on_alert per raise/clear
            self.timestamp = snap.timestamp
            self.samples += 1
            self.data_version += 1

    def _on_alert(self, event: AlertEvent) -> None:
        self._events.append(event)  # called inside __call__, under the lock
        self.alert_version += 1

    # -- reading (view thread) --------------------------------------------

    @property
    def chart_version(self) -> int:
        """Changes whenever the current window's chart would look different."""
        with self._lock:
            return sum(h.by_window[self._window].version for h in self._gpus.values())

    def rows(self) -> tuple[GpuRow, ...]:
        with self._lock:
            return self._rows()

    def _rows(self) -> tuple[GpuRow, ...]:
        active: dict[int, list[str]] = {}
        for event in self._alerts.active:
            active.setdefault(event.gpu, []).append(event.rule.name)
        rows = []
        for index in sorted(self._gpus):
            g = self._gpus[index].latest
            if g is None:
                continue
            names = tuple(active.get(index, ()))
            if not g.healthy:
                names = (*names, "GPU failed")
            used, total = g.memory_used_bytes, g.memory_total_bytes
            rows.append(
                GpuRow(
                    index=g.index,
                    name=g.name,
                    healthy=g.healthy,
                    error=g.error,
                    memory_used_gib=None if used is None else used / GIB,
                    memory_total_gib=None if total is None else total / GIB,
                    memory_used_pct=g.memory_used_pct,
                    memory_busy_pct=g.memory_busy_pct,
                    utilization_pct=g.utilization_pct,
                    temperature_c=g.temperature_c,
                    power_w=g.power_w,
                    power_limit_w=g.power_limit_w,
                    power_pct=_pct(g.power_w, g.power_limit_w),
                    sm_clock_mhz=g.sm_clock_mhz,
                    alerts=names,
                    simulated=g.simulated,
                )
            )
        return tuple(rows)

    def charts(self, chart: str | None = None, window: str | None = None) -> tuple[ChartData, ...]:
        """One :class:`ChartData` per GPU for ``chart`` over ``window`` (default: the current ones)."""
        with self._lock:
            return self._charts(self._check_chart(chart or self._chart), self._check_window(window or self._window))

    def _charts(self, chart: str, window: str) -> tuple[ChartData, ...]:
        spec = CHARTS[chart]
        out = []
        for index in sorted(self._gpus):
            h = self._gpus[index]
            series = h.by_window[window]
            # bridge holes left by sampling jitter, but show real pauses as breaks
            gap = max(1, round(2.5 * self.interval / series.width_s))
            values = tuple(tuple(series.slots(s.field, gap)) for s in spec.series)
            out.append(
                ChartData(
                    gpu=index,
                    spec=spec,
                    y_min=spec.y_min,
                    y_max=self._y_max(spec, h.latest, values),
                    values=values,
                    bin_s=series.width_s,
                    window_s=self.windows[window],
                )
            )
        return tuple(out)

    @staticmethod
    def _y_max(spec: ChartSpec, latest: GpuSample | None, values) -> float:
        if isinstance(spec.y_max, (int, float)):
            return float(spec.y_max)
        if spec.y_max == "total" and latest is not None and latest.memory_total_bytes:
            return latest.memory_total_bytes / GIB
        if spec.y_max == "limit" and latest is not None and latest.power_limit_w:
            return float(latest.power_limit_w)
        data = [v for series in values for v in series if v is not None]
        top = max(data, default=0.0)
        return max(spec.y_floor, top * 1.05, spec.y_min + 1.0)

    def processes(self) -> tuple[ProcessRow, ...] | None:
        """Processes holding GPU memory, biggest first per GPU (``None``: not read yet)."""
        with self._lock:
            return self._process_rows()

    def _process_rows(self) -> tuple[ProcessRow, ...] | None:
        if self._processes is None:
            return None
        rows = []
        for p in sorted(self._processes, key=lambda p: (p.gpu_index, -(p.used_memory_bytes or 0), p.pid)):
            name = p.name or "(host PID: not visible from this container)"
            rows.append(
                ProcessRow(gpu=p.gpu_index, pid=p.pid, name=name, used_memory_mib=p.used_memory_mib, visible=p.visible)
            )
        return tuple(rows)

    @property
    def active_alerts(self) -> tuple[AlertEvent, ...]:
        return tuple(self._alerts.active)

    def recent(self, index: int) -> list[Reading]:
        """The last few raw readings of one GPU (``recent`` of them), oldest first."""
        with self._lock:
            h = self._gpus.get(index)
            return [] if h is None else list(h.recent)

    def frame(self, *, with_charts: bool = True) -> Frame:
        with self._lock:
            return Frame(
                source=self.source,
                label=self.label,
                window=self._window,
                chart=self._chart,
                rows=self._rows(),
                charts=self._charts(self._chart, self._window) if with_charts else None,
                processes=self._process_rows(),
                processes_timestamp=self._processes_timestamp,
                alerts=tuple(self._alerts.active),
                recent_events=tuple(self._events),
                hidden_gpus=self._hidden,
                timestamp=self.timestamp,
                samples=self.samples,
                data_version=self.data_version,
                chart_version=sum(h.by_window[self._window].version for h in self._gpus.values()),
                process_version=self.process_version,
                alert_version=self.alert_version,
            )

    def memory_footprint(self) -> int:
        """How many values the model holds (bins x fields + recent readings): flat once warmed up."""
        with self._lock:
            total = 0
            for h in self._gpus.values():
                total += sum(len(s) * len(s.fields) for s in h.by_window.values())
                total += len(Reading._fields) * len(h.recent)
            return total + len(self._events)
