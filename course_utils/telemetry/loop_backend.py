"""A simulated GPU driven by the learner's own training loop (for CPU-only machines).

The seeded :class:`SimulatedBackend` plays a recorded-style trace that ignores
the notebook. This backend follows *your* code instead: each step of your loop
says which tensors it holds (their sizes are exact: ``numel * element_size``)
and how long it computed, and the simulated GPU turns that into what NVML
would show:

* **memory used** = a CUDA context + what a caching allocator would *reserve*
  for those tensors, following PyTorch's pools: requests up to 1 MiB share
  2 MiB segments, requests up to 10 MiB share 20 MiB segments, larger ones get
  their own segment rounded to 2 MiB; everything rounded up to 512 bytes. The
  reservation is **kept** after the tensors are freed, until :meth:`empty_cache`
  (notebook 06's lesson). Packing is idealised (no fragmentation);
* **utilisation** = the share of the last second during which a step was
  computing (NVML's definition: "a kernel was running"), so time your loop
  spends elsewhere (loading data, printing, sleeping) shows as idle;
* power, temperature and clocks follow utilisation as in the seeded backend.

    gpu = LoopDrivenBackend()
    for x, y in batches:
        with gpu.step() as step:            # times the step's compute
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            step.holds(x, y, *net.parameters(), *(p.grad for p in net.parameters()))

Everything is labelled SIMULATED: it models the allocator's rounding and the
utilisation counter, not the speed of any real GPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterable

from ..units import MIB
from .backend import FixedDevicesBackend
from .samples import BackendKind, DeviceInfo, GpuSample, ProcessSample, Snapshot
from .simulated_backend import CONTEXT_MIB, POWER_IDLE_W, POWER_LIMIT_W, TOTAL_MIB

ROUND_BYTES = 512  # the caching allocator rounds every request up to a multiple of 512 bytes
SMALL_BYTES = 1 * MIB  # requests up to 1 MiB share 2 MiB segments ("small pool")
SMALL_SEGMENT = 2 * MIB
MID_BYTES = 10 * MIB  # requests up to 10 MiB share 20 MiB segments (PyTorch's kLargeBuffer)
MID_SEGMENT = 20 * MIB
LARGE_ROUND = 2 * MIB  # larger requests get their own segment, rounded up to 2 MiB
UTIL_WINDOW_S = 1.0


def tensor_bytes(tensor) -> int:
    """Exact bytes of a tensor's elements: ``numel() * element_size()`` (0 for ``None``)."""
    if tensor is None:
        return 0
    try:
        return int(tensor.numel()) * int(tensor.element_size())
    except AttributeError as exc:
        raise TypeError(f"holds() takes tensors (or None), not {type(tensor).__name__}") from exc


def allocator_bytes(nbytes: int) -> int:
    """What one request costs the caching allocator: rounded up to 512 bytes."""
    if nbytes < 0:
        raise ValueError(f"a tensor cannot have {nbytes} bytes")
    return 0 if nbytes == 0 else -(-nbytes // ROUND_BYTES) * ROUND_BYTES


def segments_for(sizes: Iterable[int]) -> int:
    """Bytes of the segments a caching allocator would reserve for these live allocations."""
    sizes = list(sizes)
    small = sum(allocator_bytes(s) for s in sizes if 0 < s <= SMALL_BYTES)
    mid = sum(allocator_bytes(s) for s in sizes if SMALL_BYTES < s <= MID_BYTES)
    large = [allocator_bytes(s) for s in sizes if s > MID_BYTES]
    reserved = -(-small // SMALL_SEGMENT) * SMALL_SEGMENT + -(-mid // MID_SEGMENT) * MID_SEGMENT
    reserved += sum(-(-s // LARGE_ROUND) * LARGE_ROUND for s in large)
    return reserved


class _Step:
    def __init__(self):
        self.sizes: list[int] = []

    def holds(self, *tensors) -> None:
        """The tensors alive at this step's peak (inputs, weights, activations, gradients)."""
        for t in tensors:
            self.sizes.append(tensor_bytes(t))


class LoopDrivenBackend(FixedDevicesBackend):
    """One (or more, as DDP ranks would) simulated GPU fed by ``step()`` calls from your loop."""

    kind: BackendKind = "simulated"

    def __init__(self, n_gpus: int = 1, *, clock=time.monotonic, wall=time.time):
        if not isinstance(n_gpus, int) or not 1 <= n_gpus <= 8:
            raise ValueError(f"n_gpus must be a whole number from 1 to 8, got {n_gpus!r}")
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._busy: deque[tuple[float, float]] = deque()  # (start, end) of compute, clock time
        self.allocated_bytes = 0  # live at the last step's peak
        self.reserved_bytes = 0  # what the cache holds: grows to the peak, kept until empty_cache()
        self.peak_allocated_bytes = 0
        self.steps = 0
        self._power, self._temp, self._last_t = POWER_IDLE_W, 33.0, None
        self._infos = [
            DeviceInfo(
                index=i,
                uuid=f"GPU-LOOP-{i:02d}",
                name="NVIDIA H200 (simulated, your loop)",
                memory_total_bytes=TOTAL_MIB * MIB,
                power_limit_w=POWER_LIMIT_W,
            )
            for i in range(n_gpus)
        ]
        self.label = f"SIMULATED: {n_gpus} virtual H200 GPU(s) driven by your training loop"

    # -- what the learner's loop calls ---------------------------------------

    @contextlib.contextmanager
    def step(self):
        """Time one step's compute; inside, call ``step.holds(*tensors)`` for what it keeps alive."""
        record, start = _Step(), self._clock()
        try:
            yield record
        finally:
            self.record_step(sum(record.sizes), start, self._clock(), sizes=record.sizes)

    def record_step(self, allocated_bytes: int, start: float, end: float, *, sizes: list[int] | None = None) -> None:
        """The low-level form of :meth:`step`: bytes live at the step's peak, and when it computed."""
        if allocated_bytes < 0 or end < start:
            raise ValueError("a step needs allocated_bytes >= 0 and end >= start")
        needed = segments_for(sizes) if sizes is not None else segments_for([allocated_bytes])
        with self._lock:
            self.allocated_bytes = allocated_bytes
            self.peak_allocated_bytes = max(self.peak_allocated_bytes, allocated_bytes)
            self.reserved_bytes = max(self.reserved_bytes, needed)  # the cache keeps what it got
            self._busy.append((start, end))
            self.steps += 1

    def empty_cache(self) -> None:
        """As ``torch.cuda.empty_cache()``: give back cached segments that no live tensor uses."""
        with self._lock:
            self.reserved_bytes = segments_for([self.allocated_bytes])

    def release(self) -> None:
        """The loop finished and dropped its tensors (the cache still holds the memory)."""
        with self._lock:
            self.allocated_bytes = 0

    # -- what a sampler calls -------------------------------------------------

    def utilization(self, now: float | None = None) -> float:
        """Percent of the last second during which a step was computing."""
        now = self._clock() if now is None else now
        lo = now - UTIL_WINDOW_S
        with self._lock:
            while self._busy and self._busy[0][1] < lo:
                self._busy.popleft()
            busy = sum(max(0.0, min(e, now) - max(s, lo)) for s, e in self._busy)
        return max(0.0, min(100.0, 100.0 * busy / UTIL_WINDOW_S))

    def snapshot(self, processes: bool = False) -> Snapshot:
        now, stamp = self._clock(), self._wall()
        util = self.utilization(now)
        dt = 0.0 if self._last_t is None else max(0.0, now - self._last_t)
        self._last_t = now
        target = POWER_IDLE_W + (POWER_LIMIT_W * 0.93 - POWER_IDLE_W) * (util / 100) ** 1.2
        self._power += (target - self._power) * (1 - math.exp(-dt / 0.8))
        self._temp += (27.0 + 0.078 * self._power - self._temp) * (1 - math.exp(-dt / 25.0))
        used = int(CONTEXT_MIB * MIB) + self.reserved_bytes if self.steps else 0
        samples = tuple(
            GpuSample(
                timestamp=stamp,
                index=i.index,
                uuid=i.uuid,
                name=i.name,
                memory_used_bytes=used,
                memory_total_bytes=TOTAL_MIB * MIB,
                memory_reserved_bytes=int(491 * MIB),
                utilization_pct=float(round(util)),
                memory_busy_pct=float(round(util * 0.55)),
                temperature_c=float(round(self._temp)),
                power_w=round(self._power, 1),
                power_limit_w=POWER_LIMIT_W,
                sm_clock_mhz=345.0 if util < 5 else 1980.0,
                simulated=True,
            )
            for i in self._infos
        )
        procs = None
        if processes:
            procs = tuple(
                ProcessSample(
                    gpu_index=i.index,
                    pid=os.getpid(),
                    used_memory_bytes=used,
                    name="your training loop (simulated)",
                    visible=True,
                )
                for i in self._infos
                if self.steps
            )
        return Snapshot(timestamp=stamp, source="simulated", gpus=samples, processes=procs, elapsed_s=0.0)
