"""Show the peak GPU memory of a block of code, as it runs and when it ends.

``course_utils.memory.peak_memory`` measures; this only displays. It uses a
plain IPython display that is updated in place (``display_id``), not a widget
comm, so the result stays in the saved notebook like any other output.
Display happens in the cell's own thread, at the start and the end of the
``with`` block.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager

from ..units import GIB
from .render import bar

# Just what this card needs (the dashboard's full style sheet is not repeated in every output).
STYLE = """<style>
.cud-pk{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px;border-left:4px solid #8e5cd9;
padding:4px 10px;background:var(--jp-layout-color2,#f4f0fb);color:var(--jp-ui-font-color1,#222);max-width:700px}
.cud-pk .cud-dim{color:var(--jp-ui-font-color2,#666)}.cud-pk .cud-bad{color:#e03131;font-weight:600}
.cud-pk .cud-bar{position:relative;height:16px;max-width:420px;margin:3px 0;background:var(--jp-layout-color3,#ddd);
border-radius:3px;overflow:hidden}
.cud-pk .cud-bar i{position:absolute;left:0;top:0;bottom:0;background:#8e5cd9;opacity:.8}
.cud-pk .cud-bar span{position:relative;padding-left:6px;line-height:16px;font-size:11px}
</style>"""


def _total_bytes(device: str) -> int | None:
    """The GPU's total memory (for the bar), or None on CPU or without torch."""
    if not device.startswith("cuda"):
        return None
    try:
        import torch

        index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
        return int(torch.cuda.get_device_properties(index).total_memory)
    except Exception:  # the bar is optional: the numbers are shown anyway
        return None


def _gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / GIB:.2f} GiB"


def peak_html(result, total_bytes: int | None = None, running: bool = False) -> str:
    """HTML for a ``PeakResult`` (see ``course_utils.memory.peak_memory``)."""
    label = html.escape(getattr(result, "label", "") or "block")
    device = html.escape(str(getattr(result, "device", "?")))
    if running:
        return f"{STYLE}<div class=cud-pk><b>{label}</b> on {device}: running…</div>"
    raised = getattr(result, "raised", None)
    tail = f" <span class=cud-bad>(raised {html.escape(raised)})</span>" if raised else ""
    seconds = f"{getattr(result, 'seconds', 0.0):.3f} s"
    if not getattr(result, "on_gpu", False):
        note = html.escape(getattr(result, "note", "") or "GPU memory not measured")
        return (
            f"{STYLE}<div class=cud-pk><b>{label}</b> on {device}: {seconds}{tail}<br>"
            f"<span class=cud-dim>{note}</span></div>"
        )
    peak, start, end = result.peak_bytes, result.start_bytes, result.end_bytes
    added = None if peak is None or start is None else peak - start
    lines = [
        f"<b>{label}</b> on {device}: peak <b>{_gib(peak)}</b> allocated by PyTorch "
        f"(+{_gib(added)} over the start) in {seconds}{tail}"
    ]
    if total_bytes and peak is not None:
        pct = 100.0 * peak / total_bytes
        lines.append(bar(pct, f"{_gib(peak)} of {total_bytes / GIB:.0f} GiB · {pct:.1f}%", "m"))
    lines.append(
        f"<span class=cud-dim>allocated at start {_gib(start)}, at end {_gib(end)}. PyTorch's own "
        "allocations only; nvidia-smi also counts the CUDA context and the allocator's cache.</span>"
    )
    note = getattr(result, "note", "")
    if note:
        lines.append(f"<span class=cud-dim>{html.escape(note)}</span>")
    return f"{STYLE}<div class=cud-pk>{'<br>'.join(lines)}</div>"


class _Shown:
    """A display updated in place: IPython when it runs, nothing otherwise (scripts, tests)."""

    def __init__(self, display=None):
        self._display = display
        self._handle = None

    def show(self, text: str) -> None:
        if self._display is not None:
            self._display(text)
            return
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display
        except ImportError:
            return
        if get_ipython() is None:
            return
        if self._handle is None:
            self._handle = display(HTML(text), display_id=True)
        else:
            self._handle.update(HTML(text))


@contextmanager
def show_peak_memory(label: str = "", device=None, *, display=None) -> Iterator:
    """``with show_peak_memory("forward"):`` shows "running…", then the block's
    peak GPU memory and time when it ends (also when it raises). Yields the
    ``PeakResult``. ``display``: a callable taking HTML, instead of IPython's."""
    try:
        from ..memory import peak_memory  # imported here: it imports torch lazily and is optional
    except ImportError as exc:
        raise ImportError(
            "show_peak_memory needs course_utils.memory.peak_memory, which could not be "
            f"imported ({exc}). Reinstall the course package: pip install -e ."
        ) from exc
    shown = _Shown(display)
    result = None
    try:
        with peak_memory(device=device, label=label) as result:
            shown.show(peak_html(result, running=True))
            yield result
    finally:
        # after peak_memory has filled the result in: on success and when the block raised
        if result is not None:
            shown.show(peak_html(result, _total_bytes(result.device)))
