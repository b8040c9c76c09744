"""A compact one-line GPU status: a utilisation sparkline and the key numbers per GPU.

Meant to sit above a training loop's cell: ``StatusLine()`` (its own
sampler) or ``StatusLine(dashboard)`` (reads the dashboard's model, so no
second thread samples the GPU).
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..telemetry import no_gpu_reason
from .model import DEFAULT_RULES, DashboardModel
from .refresh import Refresher
from .render import STYLE, status_line_html
from .sources import DEFAULT_INTERVAL, LIVE, Source, check_source, resolve_source


class StatusLine(widgets.HBox):
    """``GPU0 ▁▃▇ 95% · mem 58% · 612 W · 71 °C   GPU1 ...`` updated ``refresh_hz`` times a second."""

    def __init__(
        self,
        source=None,
        *,
        simulate: int | None = None,
        interval: float = DEFAULT_INTERVAL,
        refresh_hz: float = 2.0,
        width: int = 30,
        name: str | None = "status",
        autostart: bool = True,
    ):
        from .dashboard import Dashboard  # here: dashboard imports nothing from this module

        if not 5 <= width <= 200:
            raise ValueError(f"width (sparkline points) must be 5 to 200, got {width!r}")
        self._refresher = Refresher(self._refresh, hz=refresh_hz, name=f"gpu-status-{name or 'anon'}")
        if not isinstance(source, (Dashboard, DashboardModel)):
            check_source(source, simulate)
        LIVE.close_previous(name)
        self.name, self.width, self._closed, self._frozen = name, width, False, False
        self._last: int | None = None  # the model's data_version last drawn
        if isinstance(source, Dashboard):
            if source.source.sampler is None:
                source = source.source.backend  # the dashboard has no GPU: show the same reason
            else:
                self.model, self.source = source.model, Source(source.source.backend, None, False, False)
                source.dependents.append(self)  # it stops with the dashboard that feeds it
        if isinstance(source, DashboardModel):
            self.model, self.source = source, Source(None, None, False, False)
        elif not hasattr(self, "model"):
            self.source = resolve_source(
                source,
                simulate=simulate,
                interval=interval,
                sampler_name=None if name is None else f"status:{name}",
                processes_every_s=0,
            )
            self.model = DashboardModel(
                interval=interval,
                rules=DEFAULT_RULES,
                recent=width,
                source=self.source.kind,
                label=getattr(self.source.backend, "label", ""),
            )
            if self.source.sampler is not None:
                self.model.attach(self.source.sampler)
        self.line = widgets.HTML()
        super().__init__([widgets.HTML(STYLE), self.line])
        reason = no_gpu_reason(self.source.backend)
        if reason is not None:
            self.line.value = (
                f"<span class=cud-sl title='{html.escape(reason.fix, quote=True)}'>"
                f"<b>no GPU</b><span class=cud-dim>{html.escape(reason.message)}</span></span>"
            )
        if self.comm is not None:
            self.comm.on_close(lambda _msg: self.close())
        LIVE.register(name, self)
        if autostart and self.source.kind != "none":
            self.start()

    def start(self) -> StatusLine:
        if self._closed or self._frozen:
            return self
        if self.source.sampler is not None and self.source.owns_sampler:
            self.source.sampler.start()
        self._refresher.start()
        return self

    def stop(self) -> StatusLine:
        self._refresher.stop()
        if self.source.sampler is not None and self.source.owns_sampler:
            self.source.sampler.stop()
        return self

    def freeze(self) -> StatusLine:
        """Stop sampling and drawing, keep the last line on the page (see ``Dashboard.freeze``)."""
        if self._closed or self._frozen:
            return self
        self._frozen = True
        LIVE.forget(self.name, self)
        self._refresher.stop()
        if self.source.kind != "none":
            self._last = None
            self._refresh()  # the latest readings, drawn once more
        if self.source.owns_sampler:
            self.model.detach()
        self.source.close()
        if self.source.kind != "none":
            with self.line.hold_sync():
                self.line.value += " <span class=cud-dim>(frozen: run the cell again for a live line)</span>"
        return self

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        LIVE.forget(self.name, self)
        self._refresher.stop()
        if self.source.owns_sampler:
            self.model.detach()
        self.source.close()
        for child in self.children:
            child.close()
        super().close()

    @property
    def refresher(self) -> Refresher:
        return self._refresher

    def _refresh(self) -> None:
        version = self.model.data_version
        if version == self._last:
            return
        self._last = version
        rows = self.model.rows()
        recent = {r.index: self.model.recent(r.index) for r in rows}
        value = status_line_html(rows, recent, self.model.source, self.width)
        if value != self.line.value:
            with self.line.hold_sync():
                self.line.value = value
