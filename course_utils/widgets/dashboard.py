"""The live GPU dashboard: an ipywidgets view of a :class:`DashboardModel`.

Threads, and what each may do:

* the sampler thread reads the backend and feeds the model (nothing else);
* this view's refresh thread (2-4 Hz) reads a :class:`Frame` from the model
  and sets the ``value`` of a few HTML widgets, each change in one message
  (``hold_sync``), and only when the text changed;
* the notebook's main thread builds the widget and handles the buttons.

No thread prints or displays. Charts are drawn as small SVG inside plain
ipywidgets HTML (docs/widgets.md says why: no extra frontend extension, and
it measured within the CPU and bandwidth budget).
"""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets

from ..telemetry import Sampler, no_gpu_reason
from .model import CHARTS, DEFAULT_CHART, DEFAULT_RULES, DEFAULT_WINDOW, DashboardModel
from .refresh import Refresher
from .render import (
    STYLE,
    TABLE_NOTE,
    alerts_html,
    banner_html,
    charts_html,
    header_html,
    processes_html,
    table_html,
)
from .sources import DEFAULT_INTERVAL, LIVE, check_source, resolve_source

RUNNING, PAUSED, STOPPED, FROZEN, CLOSED, NO_GPU = "running", "paused", "stopped", "frozen", "closed", "no GPU"


class Dashboard(widgets.VBox):
    """Live per-GPU memory, utilisation, power, temperature and clocks, with history.

    >>> from course_utils.telemetry import open_backend
    >>> dash = Dashboard(open_backend(fallback="simulated"))   # the last line of a cell shows it
    >>> dash                                                   # doctest: +SKIP

    ``source``: a backend (handed over: closed with the dashboard), a
    ``Sampler`` (left running when the dashboard closes) or ``None`` (open
    the course's backend; ``simulate=N`` shows N simulated GPUs instead).
    Re-running a cell that makes a dashboard with the same ``name`` closes the
    previous one and its sampler first.
    """

    def __init__(
        self,
        source=None,
        *,
        simulate: int | None = None,
        interval: float = DEFAULT_INTERVAL,
        refresh_hz: float = 4.0,
        window: str = DEFAULT_WINDOW,
        chart: str = DEFAULT_CHART,
        rules=DEFAULT_RULES,
        gpus=None,
        name: str | None = "dashboard",
        autostart: bool = True,
        title: str = "GPU dashboard",
        show_processes: bool = True,
    ):
        # Validate everything before anything starts, so bad input leaves nothing running.
        model = DashboardModel(interval=interval, window=window, chart=chart, rules=rules, gpus=gpus)
        self._refresher = Refresher(self._refresh, hz=refresh_hz, name=f"gpu-dashboard-{name or 'anon'}")
        check_source(source, simulate)
        LIVE.close_previous(name)  # the previous dashboard of this name, and its sampler, stop first
        src = resolve_source(
            source,
            simulate=simulate,
            interval=interval,
            sampler_name=None if name is None else f"dashboard:{name}",
            processes_every_s=2.0 if show_processes else 0,
        )
        self.source, self.model, self.name = src, model, name
        self.state = NO_GPU if src.sampler is None else STOPPED
        self._closed = False
        self.dependents: list = []  # widgets reading this dashboard's model (StatusLine): closed with it
        self._ui_lock = threading.Lock()
        self._shown: dict[str, object] = {}

        model.source = src.kind
        model.label = getattr(src.backend, "label", "")
        self.header = widgets.HTML(header_html(src.kind, model.label, title))
        self.style_html = widgets.HTML(STYLE)
        self.status = widgets.HTML()
        if src.sampler is None:  # only a machine without a GPU gets no sampler
            reason = no_gpu_reason(src.backend)
            assert reason is not None
            self.banner = widgets.HTML(banner_html(reason))
            super().__init__([self.style_html, self.header, self.banner])
            self.add_class("course-gpu-dashboard")
            LIVE.register(name, self)
            return

        self.start_button = widgets.Button(
            description="Start", icon="play", tooltip="start sampling and drawing", layout=widgets.Layout(width="90px")
        )
        self.pause_button = widgets.Button(
            description="Pause",
            icon="pause",
            tooltip="freeze the view; sampling continues, nothing is lost",
            layout=widgets.Layout(width="90px"),
        )
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            tooltip="stop sampling and drawing (Start resumes)",
            layout=widgets.Layout(width="90px"),
        )
        self.window_select = widgets.Dropdown(
            options=list(model.windows),
            value=model.window,
            description="window",
            layout=widgets.Layout(width="170px"),
            style={"description_width": "50px"},
        )
        self.chart_select = widgets.Dropdown(
            options=[(c.title, k) for k, c in CHARTS.items()],
            value=model.chart,
            description="chart",
            layout=widgets.Layout(width="290px"),
            style={"description_width": "40px"},
        )
        self.start_button.on_click(lambda _b: self.start())
        self.pause_button.on_click(lambda _b: self.pause())
        self.stop_button.on_click(lambda _b: self.stop())
        self.window_select.observe(self._on_window, names="value")
        self.chart_select.observe(self._on_chart, names="value")
        controls = widgets.HBox(
            [
                self.start_button,
                self.pause_button,
                self.stop_button,
                self.window_select,
                self.chart_select,
                self.status,
            ],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.alerts = widgets.HTML()
        self.table = widgets.HTML(table_html(()))
        self.table_note = widgets.HTML(TABLE_NOTE)
        self.charts = widgets.HTML(charts_html(()))
        self.processes = widgets.HTML(processes_html(None) if show_processes else "")
        children = [self.style_html, self.header, controls, self.alerts, self.table, self.table_note, self.charts]
        if show_processes:
            children.append(self.processes)
        super().__init__(children)
        self.add_class("course-gpu-dashboard")

        assert src.backend is not None  # resolve_source always opens one
        model.set_devices(src.backend.devices())
        model.attach(src.sampler)
        if self.comm is not None:  # the frontend closed the widget: stop the threads too
            self.comm.on_close(lambda _msg: self.close())
        LIVE.register(name, self)
        self._set_status()
        if autostart:
            self.start()

    # -- controls (main thread) --------------------------------------------

    def _sampler(self) -> Sampler:
        if self.source.sampler is None:  # only in the NO_GPU state, which the callers rule out first
            raise RuntimeError("this dashboard has no GPU to sample")
        return self.source.sampler

    def start(self) -> Dashboard:
        """Start (or resume) sampling and drawing."""
        if self.state in (CLOSED, NO_GPU, FROZEN):
            return self
        self._sampler().start()
        self._refresher.start()
        self.state = RUNNING
        self._set_status()
        return self

    def pause(self) -> Dashboard:
        """Freeze the view; the sampler keeps recording, so Start shows what happened meanwhile."""
        if self.state == RUNNING:
            self.state = PAUSED
            self._set_status()
        return self

    def stop(self) -> Dashboard:
        """Stop sampling and drawing; Start resumes (the history has a gap)."""
        if self.state in (RUNNING, PAUSED):
            self._refresher.stop()
            if self.source.owns_sampler:
                self._sampler().stop()
            self.state = STOPPED
            self._set_status()
        return self

    def freeze(self) -> Dashboard:
        """Stop every thread and release the backend, but keep the widget on the page showing its
        last state (what the last cell of a notebook calls: after "Run All" the learner still sees
        what happened). A frozen dashboard cannot restart: run its cell again for a live one."""
        if self.state in (FROZEN, CLOSED) or getattr(self, "_closed", True):
            return self
        LIVE.forget(self.name, self)
        for dependent in list(self.dependents):
            dependent.freeze()
        if self.state != NO_GPU:
            self._refresher.stop()
            self.state = RUNNING  # draw the latest samples once more, then freeze
            self._refresh()
        self.model.detach()
        self.source.close()
        if self.state == NO_GPU:
            return self
        self.state = FROZEN
        self._set_status()
        for button in (self.start_button, self.pause_button, self.stop_button):
            button.disabled = True
        return self

    def close(self) -> None:
        """Stop the threads, release the GPU backend and remove the widget."""
        if getattr(self, "_closed", True):  # also guards a half-built instance
            return
        self._closed = True
        LIVE.forget(self.name, self)
        for dependent in list(self.dependents):
            dependent.close()
        self._refresher.stop()
        self.model.detach()
        self.source.close()
        self.state = CLOSED
        for child in _descendants(self):
            child.close()
        super().close()

    def _on_window(self, change) -> None:
        self.model.window = change["new"]

    def _on_chart(self, change) -> None:
        self.model.chart = change["new"]

    def _set_status(self) -> None:
        if self.state == NO_GPU:
            return
        sampler = self._sampler()
        words = {
            RUNNING: "● running",
            PAUSED: "❚❚ paused (still recording)",
            STOPPED: "■ stopped",
            FROZEN: "■ frozen",
            CLOSED: "closed",
        }[self.state]
        detail = f"sampling every {sampler.interval:g} s, drawing at {self._refresher.hz:g} Hz"
        if self.state == FROZEN:
            detail = "the last state before it was stopped; run its cell again for a live view"
        errors = self._refresher.errors
        if errors:
            _, exc = errors[-1]
            detail += f" · last drawing error: {html.escape(type(exc).__name__)}: {html.escape(str(exc)[:120])}"
        with self._ui_lock:
            self.status.value = f"<span class='cud cud-dim'><b>{words}</b> · {detail}</span>"
        if hasattr(self, "pause_button"):
            self.start_button.disabled = self.state == RUNNING
            self.pause_button.disabled = self.state != RUNNING
            self.stop_button.disabled = self.state not in (RUNNING, PAUSED)

    # -- drawing (refresh thread) ------------------------------------------

    def _refresh(self) -> None:
        if self.state != RUNNING:
            return
        errors = len(self._refresher.errors)
        if errors != self._shown.get("errors", 0):  # a previous refresh failed: say so in the status text
            self._shown["errors"] = errors
            self._set_status()
        model = self.model
        key = (model.chart_version, model.window, model.chart)
        need_charts = key != self._shown.get("charts_key")
        frame = model.frame(with_charts=need_charts)
        updates = []
        if frame.data_version != self._shown.get("data"):
            self._shown["data"] = frame.data_version
            updates.append((self.table, table_html(frame.rows, frame.timestamp, frame.hidden_gpus)))
        if need_charts:
            self._shown["charts_key"] = key
            updates.append((self.charts, charts_html(frame.charts or ())))
        if frame.process_version != self._shown.get("procs"):
            self._shown["procs"] = frame.process_version
            updates.append((self.processes, processes_html(frame.processes)))
        if frame.alert_version != self._shown.get("alerts") or "alerts" not in self._shown:
            self._shown["alerts"] = frame.alert_version
            updates.append((self.alerts, alerts_html(frame.alerts, frame.recent_events, model.rules)))
        for widget, value in updates:
            if widget.value != value:
                with widget.hold_sync():  # one comm message per widget per refresh
                    widget.value = value

    # -- for tests, benchmarks and curious learners -------------------------

    @property
    def refresher(self) -> Refresher:
        return self._refresher

    def threads(self) -> list[threading.Thread]:
        """The live threads of this dashboard (sampler, refresh)."""
        out = []
        sampler = self.source.sampler
        if sampler is not None and sampler.thread is not None and sampler.thread.is_alive():
            out.append(sampler.thread)
        if self._refresher.running and self._refresher.thread is not None:
            out.append(self._refresher.thread)
        return out


def _descendants(box) -> list:
    out = []
    for child in getattr(box, "children", ()):
        out.extend(_descendants(child))
        out.append(child)
    return out
