"""What PyTorch's caching allocator holds: allocated, reserved, peaks, and memory snapshots.

* *allocated*: bytes in live tensors;
* *reserved*: bytes the caching allocator holds from CUDA (allocated + cached free blocks).
  ``nvidia-smi`` shows reserved plus the CUDA context, never allocated;
* the difference is cache: free for *this* process to reuse without asking CUDA,
  unavailable to other processes until ``torch.cuda.empty_cache()``.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..units import fmt_bytes
from .torch_config import cuda_index

VIEWER = "https://pytorch.org/memory_viz"
NO_CUDA = "no CUDA GPU here: PyTorch's caching allocator is not in use, so there is nothing to report"


@dataclass
class MemoryReport:
    device: str
    on_gpu: bool
    allocated: int | None = None
    reserved: int | None = None
    peak_allocated: int | None = None
    peak_reserved: int | None = None
    total: int | None = None
    fraction: float | None = None
    inactive_split: int | None = None  # cached blocks split by earlier allocations: fragmentation
    num_ooms: int | None = None
    num_alloc_retries: int | None = None
    summary: str = ""  # torch.cuda.memory_summary(abbreviated=True)
    note: str = ""

    @property
    def cached(self) -> int | None:
        if self.reserved is None or self.allocated is None:
            return None
        return self.reserved - self.allocated

    def rows(self) -> list[tuple[str, str]]:
        if not self.on_gpu:
            return [("device", self.device), ("note", self.note)]
        rows = [
            ("device", self.device),
            ("allocated (live tensors)", fmt_bytes(self.allocated)),
            ("reserved (held from CUDA)", fmt_bytes(self.reserved)),
            ("cached (reserved - allocated)", fmt_bytes(self.cached)),
            ("peak allocated", fmt_bytes(self.peak_allocated)),
            ("peak reserved", fmt_bytes(self.peak_reserved)),
            ("inactive split blocks", fmt_bytes(self.inactive_split)),
            ("OOMs / allocation retries", f"{self.num_ooms} / {self.num_alloc_retries}"),
            ("GPU total", fmt_bytes(self.total)),
        ]
        if self.fraction is not None and self.total is not None:
            cap = fmt_bytes(int(self.total * self.fraction))
            rows.append(("per-process fraction", f"{self.fraction:g} (cap {cap})"))
        if self.note:
            rows.append(("note", self.note))
        return rows

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows())

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in self.rows()
        )
        extra = (
            f"<details><summary>memory_summary()</summary><pre>{html.escape(self.summary)}</pre></details>"
            if self.summary
            else ""
        )
        return f"<table class='course-memory-report'>{body}</table>{extra}"


def memory_report(device=None, summary: bool = True) -> MemoryReport:
    """Allocated / reserved / peak figures for one GPU (``None``: the current one)."""
    import torch

    if not torch.cuda.is_available():
        return MemoryReport(device="cpu", on_gpu=False, note=NO_CUDA)
    index = cuda_index(torch, device)
    stats = torch.cuda.memory_stats(index)
    fraction_getter = getattr(torch.cuda, "get_per_process_memory_fraction", None)
    fraction = fraction_getter(index) if fraction_getter else None
    return MemoryReport(
        device=f"cuda:{index}",
        on_gpu=True,
        allocated=torch.cuda.memory_allocated(index),
        reserved=torch.cuda.memory_reserved(index),
        peak_allocated=torch.cuda.max_memory_allocated(index),
        peak_reserved=torch.cuda.max_memory_reserved(index),
        total=torch.cuda.get_device_properties(index).total_memory,
        fraction=None if fraction is None or fraction >= 1.0 else fraction,
        inactive_split=stats.get("inactive_split_bytes.all.current", 0),
        num_ooms=stats.get("num_ooms", 0),
        num_alloc_retries=stats.get("num_alloc_retries", 0),
        summary=torch.cuda.memory_summary(index, abbreviated=True) if summary else "",
    )


def summarize_snapshot(snapshot: dict) -> dict:
    """Counts from a ``torch.cuda.memory._snapshot()`` dict: what the allocator held and did."""
    if not isinstance(snapshot, dict) or "segments" not in snapshot:
        raise ValueError(
            "not a PyTorch memory snapshot: expected a dict with 'segments' "
            "(from torch.cuda.memory._snapshot() or a pickle written by _dump_snapshot)"
        )
    segments = snapshot["segments"]
    states: Counter = Counter()
    for seg in segments:
        for block in seg.get("blocks", []):
            states[block.get("state", "?")] += block.get("size", 0)
    actions: Counter = Counter()
    largest_alloc = 0
    oom_sizes = []
    for trace in snapshot.get("device_traces", []):
        for event in trace:
            action = event.get("action", "?")
            actions[action] += 1
            if action == "alloc":
                largest_alloc = max(largest_alloc, event.get("size", 0))
            elif action == "oom":
                oom_sizes.append(event.get("size", 0))
    reserved = sum(seg.get("total_size", 0) for seg in segments)
    allocated = sum(seg.get("allocated_size", 0) for seg in segments)
    return {
        "segments": len(segments),
        "reserved_bytes": reserved,
        "allocated_bytes": allocated,
        "cached_bytes": reserved - allocated,
        "block_bytes_by_state": dict(states),
        "events": dict(actions),
        "largest_alloc_bytes": largest_alloc,
        "oom_request_bytes": oom_sizes,
        "allocator_settings": snapshot.get("allocator_settings"),
    }


@dataclass
class SnapshotResult:
    path: str | None = None
    on_gpu: bool = False
    summary: dict = field(default_factory=dict)
    note: str = ""

    def __str__(self) -> str:
        if not self.on_gpu:
            return f"memory history not recorded: {self.note}"
        s = self.summary
        events = ", ".join(f"{k} {v}" for k, v in sorted(s.get("events", {}).items())) or "none"
        where = f"written to {self.path}; open it at {VIEWER}" if self.path else "not written (no path given)"
        return (
            f"{s.get('segments', 0)} segment(s), reserved {fmt_bytes(s.get('reserved_bytes'))}, allocated "
            f"{fmt_bytes(s.get('allocated_bytes'))}; events: {events}. Snapshot {where}."
        )


@contextmanager
def record_memory_history(
    path: str | Path | None = None, max_entries: int = 100_000, device=None
) -> Iterator[SnapshotResult]:
    """Record every allocator event inside the block; at the end, take a snapshot and summarise it.

    With ``path`` the snapshot is also written as a pickle that the viewer at
    https://pytorch.org/memory_viz opens (drag and drop; it stays in the browser).
    ``max_entries`` bounds the recorded events (and their memory). Without CUDA
    the block still runs and the result says nothing was recorded.
    """
    import torch

    if max_entries < 1:
        raise ValueError("max_entries must be at least 1")
    result = SnapshotResult()
    if not torch.cuda.is_available():
        result.note = NO_CUDA
        yield result
        return
    index = cuda_index(torch, device)
    target = Path(path) if path is not None else None
    if target is not None and not target.parent.exists():
        raise FileNotFoundError(f"folder {target.parent} does not exist; create it or choose another path")
    torch.cuda.memory._record_memory_history(max_entries=max_entries, device=index)
    try:
        yield result
    finally:
        try:
            snapshot = torch.cuda.memory._snapshot(index)
            if target is not None:
                torch.cuda.memory._dump_snapshot(str(target))
        finally:
            torch.cuda.memory._record_memory_history(enabled=None, device=index)
        result.on_gpu = True
        result.path = str(target) if target is not None else None
        result.summary = summarize_snapshot(snapshot)
