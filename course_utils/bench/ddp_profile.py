"""Where a DDP step's time goes: NCCL kernels against compute kernels, from ``torch.profiler``.

DDP all-reduces gradient buckets while backward still computes, so communication only costs
what does not overlap with compute. ``profile_steps`` runs a few steps under the profiler and
sums, per step: the time the GPU computed (the union of compute kernels), the time NCCL
kernels ran, how much of that NCCL time overlapped compute, and the wall time of the step.
``step - compute`` is what scaling loses on this rank: exposed communication plus gaps where
the GPU waited for the host. On CPU (gloo) there are no kernels: the host-side times of the
collectives are given instead, which is enough to test the path, not to explain a GPU run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.autograd import DeviceType

COMM_MARKERS = ("nccl", "allreduce", "all_reduce", "gloo")


def union_us(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by ``(start, end)`` intervals (overlaps counted once)."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def summarise(events, steps: int, wall_s: float, on_gpu: bool) -> dict:
    """Per-step milliseconds from profiler ``events`` (``prof.events()``)."""
    comm, compute = [], []
    for e in events:
        if on_gpu and e.device_type != DeviceType.CUDA:
            continue
        if not on_gpu and e.device_type != DeviceType.CPU:
            continue
        span = (e.time_range.start, e.time_range.end)
        is_comm = any(m in e.name.lower() for m in COMM_MARKERS)
        if is_comm:
            comm.append(span)
        elif on_gpu:
            compute.append(span)
    comm_us, compute_us = union_us(comm), union_us(compute)
    overlap_us = comm_us + compute_us - union_us(comm + compute) if on_gpu else 0.0
    per = 1e-3 / max(1, steps)
    step_ms = wall_s * 1e3 / max(1, steps)
    out: dict[str, Any] = {
        "steps_profiled": steps,
        "step_ms": round(step_ms, 3),
        "comm_ms_per_step": round(comm_us * per, 3),
        "comm_kernels": "NCCL kernels on the GPU" if on_gpu else "gloo collectives, host side",
    }
    if on_gpu:
        out.update(
            compute_ms_per_step=round(compute_us * per, 3),
            comm_overlapped_ms_per_step=round(overlap_us * per, 3),
            comm_exposed_ms_per_step=round((comm_us - overlap_us) * per, 3),
            gpu_idle_ms_per_step=round(max(0.0, step_ms - union_us(comm + compute) * per), 3),
        )
        out["compute_share_of_step"] = round(out["compute_ms_per_step"] / step_ms, 4) if step_ms else None
    return out


def profile_steps(
    step: Callable[[], None], devices: list[torch.device], steps: int = 5, step_s: float | None = None
) -> dict:
    """Profile ``steps`` calls of ``step`` (already warmed up) and summarise them.
    ``step_s``: the step time measured without the profiler (the profiler itself adds some)."""
    from torch.profiler import ProfilerActivity, profile

    on_gpu = any(d.type == "cuda" for d in devices)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])

    def sync():
        for d in devices:
            if d.type == "cuda":
                torch.cuda.synchronize(d)

    sync()
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        wall = time.perf_counter() - start
    out = summarise(prof.events(), steps, wall, on_gpu)
    out["step_ms_profiled"] = out["step_ms"]
    if step_s is not None:  # the unprofiled step time is the one throughput came from
        out["step_ms"] = round(step_s * 1e3, 3)
        if on_gpu:
            out["compute_share_of_step"] = round(out["compute_ms_per_step"] / out["step_ms"], 4)
    return out
