"""``peak_memory``: how much GPU memory and time a block of code takes.

On a GPU it resets and reads PyTorch's peak-allocated counter for the device
and synchronises CUDA before reading the clock (kernels run asynchronously, so
an unsynchronised timer measures only how long it took to *queue* them). On a
machine without CUDA it times the block and says that memory was not measured.

Nested blocks on the same device work: ``reset_peak_memory_stats`` is global
per device, so an inner block would wipe the outer block's peak; before each
reset the peak seen so far is folded into every enclosing block.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..units import fmt_bytes

CPU_NOTE = "CPU: GPU memory not measured; wall time only"

_lock = threading.Lock()
_active: dict[str, list[PeakResult]] = {}  # device -> enclosing blocks, outermost first


def _cuda():
    """The ``torch.cuda`` module, or ``None`` without PyTorch; tests replace this."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda


@dataclass(eq=False)  # identity matters: the nesting stack removes *this* block
class PeakResult:
    """Filled in when the ``with`` block ends (also when it raises)."""

    label: str = ""
    device: str = "cpu"
    peak_bytes: int | None = None  # max torch allocated bytes during the block (includes start_bytes)
    start_bytes: int | None = None  # allocated when the block started
    end_bytes: int | None = None  # allocated when it ended
    seconds: float = 0.0
    on_gpu: bool = False
    note: str = ""
    finished: bool = False
    raised: str | None = None  # exception type name if the block raised
    _seen_peak: int = field(default=0, repr=False)

    @property
    def added_peak_bytes(self) -> int | None:
        """Peak above what was already allocated at the start: what the block itself needed."""
        if self.peak_bytes is None or self.start_bytes is None:
            return None
        return self.peak_bytes - self.start_bytes

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "device": self.device,
            "peak_bytes": self.peak_bytes,
            "start_bytes": self.start_bytes,
            "end_bytes": self.end_bytes,
            "added_peak_bytes": self.added_peak_bytes,
            "seconds": self.seconds,
            "on_gpu": self.on_gpu,
            "note": self.note,
            "raised": self.raised,
        }

    def __str__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        if not self.finished:
            return f"{name}still running on {self.device}"
        tail = f" (raised {self.raised})" if self.raised else ""
        if not self.on_gpu:
            return f"{name}{self.seconds:.3f} s on {self.device}; {self.note}{tail}"
        return (
            f"{name}peak {fmt_bytes(self.peak_bytes)} allocated on {self.device} "
            f"(+{fmt_bytes(self.added_peak_bytes)} over the start; start {fmt_bytes(self.start_bytes)}, "
            f"end {fmt_bytes(self.end_bytes)}) in {self.seconds:.3f} s{tail}"
        )

    def _repr_html_(self) -> str:
        rows = [("block", self.label or "(unnamed)"), ("device", self.device), ("time", f"{self.seconds:.3f} s")]
        if self.on_gpu:
            rows += [
                ("peak allocated", fmt_bytes(self.peak_bytes)),
                ("peak over start", fmt_bytes(self.added_peak_bytes)),
                ("allocated at start", fmt_bytes(self.start_bytes)),
                ("allocated at end", fmt_bytes(self.end_bytes)),
            ]
        if self.note:
            rows.append(("note", self.note))
        if self.raised:
            rows.append(("raised", self.raised))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        return f"<table class='course-peak-memory'>{body}</table>"


def _resolve(device, cuda) -> tuple[str, int | None]:
    """``(name, cuda_index)``; index ``None`` means CPU."""
    available = cuda is not None and cuda.is_available()
    if device is None:
        return (f"cuda:{cuda.current_device()}", cuda.current_device()) if available else ("cpu", None)
    text = str(device).strip().lower()
    if isinstance(device, int) and not isinstance(device, bool):
        text = f"cuda:{device}"
    if text == "cpu":
        return "cpu", None
    if text == "cuda" or text.startswith("cuda:"):
        if not available:
            raise ValueError(
                f"peak_memory(device={device!r}): CUDA is not available here. "
                "Use device=None (it picks the GPU when there is one) or device='cpu'."
            )
        index = cuda.current_device() if text == "cuda" else int(text.split(":", 1)[1])
        if not 0 <= index < cuda.device_count():
            raise ValueError(
                f"peak_memory(device={device!r}): there are {cuda.device_count()} GPU(s), "
                f"numbered 0 to {cuda.device_count() - 1}"
            )
        return f"cuda:{index}", index
    raise ValueError(f"peak_memory(device={device!r}): use None, 'cpu', 'cuda', 'cuda:N' or a GPU number")


@contextmanager
def peak_memory(device=None, label: str = "") -> Iterator[PeakResult]:
    """Measure the peak PyTorch GPU memory and the wall time of a block.

    >>> with peak_memory(label="forward") as r:
    ...     y = model(x)
    >>> print(r)          # filled in after the block
    """
    cuda = _cuda()
    name, index = _resolve(device, cuda)
    result = PeakResult(label=label, device=name, on_gpu=index is not None)
    if index is None:
        result.note = CPU_NOTE
    else:
        cuda.synchronize(index)
        with _lock:
            stack = _active.setdefault(name, [])
            current_peak = cuda.max_memory_allocated(index)
            for outer in stack:
                outer._seen_peak = max(outer._seen_peak, current_peak)
            stack.append(result)
            cuda.reset_peak_memory_stats(index)
        result.start_bytes = cuda.memory_allocated(index)
    t0 = time.perf_counter()
    try:
        yield result
    except BaseException as exc:
        result.raised = type(exc).__name__
        raise
    finally:
        if index is not None:
            cuda.synchronize(index)  # the block's kernels count in its time and its peak
        result.seconds = time.perf_counter() - t0
        if index is not None:
            with _lock:
                result.peak_bytes = max(result._seen_peak, cuda.max_memory_allocated(index))
                result.end_bytes = cuda.memory_allocated(index)
                stack = _active.get(name, [])
                if result in stack:
                    stack.remove(result)
        result.finished = True
