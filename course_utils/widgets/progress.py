"""A progress bar for a training job's events: an ipywidgets IntProgress in a notebook, text elsewhere.

The events come from :mod:`course_utils.distributed.progress`. Nothing here starts a thread:
the bar is updated from the cell that runs the job, which is the only safe place to print.
Jupyter is imported only when a widget is shown, so a script or a torchrun worker can import this.
"""

from __future__ import annotations


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (not a terminal IPython, not plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class ProgressView:
    """A progress bar for training events: an ipywidgets IntProgress in a notebook, text
    lines elsewhere (every 10% at most, so a log stays readable)."""

    def __init__(self, title: str, widget: bool | None = None):
        self.title = title
        self.total = 0
        self.done = 0
        self._last_pct = -1
        self._bar = self._label = None
        use_widget = in_notebook() if widget is None else widget
        if use_widget:
            try:
                import ipywidgets as w
                from IPython.display import display
            except ImportError:
                use_widget = False
            else:
                self._bar = w.IntProgress(value=0, min=0, max=1, description=title[:20], layout=w.Layout(width="50%"))
                self._label = w.Label("starting...")
                display(w.HBox([self._bar, self._label]))
        self.widget = use_widget

    def update(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total = max(1, int(event.get("total_steps", 1)))
            if self._bar is not None:
                self._bar.max = self.total
        elif kind == "step":
            self.done = int(event.get("step", self.done))
        elif kind == "epoch":
            self._show(
                f"epoch {event.get('epoch')} done: loss {event.get('loss', float('nan')):.3f}, "
                f"test accuracy {event.get('accuracy', float('nan')):.1%}",
                force=True,
            )
            return
        elif kind == "done":
            self.done = self.total
            self._show("finished", force=True)
            return
        elif kind == "failed":
            self._show(f"failed: {event.get('error', '')}", force=True, failed=True)
            return
        else:
            return
        loss = event.get("loss")
        self._show(f"step {self.done}/{self.total}" + (f", loss {loss:.3f}" if loss is not None else ""))

    def _show(self, text: str, force: bool = False, failed: bool = False) -> None:
        if self._bar is not None and self._label is not None:  # both made together, in the notebook
            self._bar.value = min(self.done, self._bar.max)
            if failed:
                self._bar.bar_style = "danger"
            elif self.done >= self.total > 0:
                self._bar.bar_style = "success"
            self._label.value = text
            return
        pct = int(100 * self.done / self.total) if self.total else 0
        if force or pct // 10 > self._last_pct // 10:
            self._last_pct = pct
            width = 20
            filled = width * pct // 100
            print(f"[{self.title}] [{'#' * filled}{'.' * (width - filled)}] {pct:3d}%  {text}", flush=True)
