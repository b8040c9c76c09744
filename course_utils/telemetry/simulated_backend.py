"""Seeded, deterministic GPU traces for machines without a GPU (and for grading).

The traces follow a data-parallel training job the way a real H200 shows it:

* idle between jobs (a few percent utilisation, ~80 W, ~35 C, 345 MHz);
* a job starts: the CUDA context appears (~500 MiB), weights load, then memory
  steps up with the first batches as the caching allocator grows, and plateaus;
* training: utilisation near 95% with short dips (input pipeline stalls) and a
  slower evaluation phase now and then;
* power follows utilisation within about a second; temperature follows power
  with a ~25 s thermal lag; the SM clock boosts under load;
* the job ends, its process exits and memory falls back to the baseline.

Every GPU of one backend runs the same job (as DDP would), with its own noise.
The state advances on a fixed 0.1 s grid, so the value at time ``t`` depends
only on the seed and ``t``: two backends with one seed agree, however often
they are read. With ``step_s`` set, each ``snapshot()`` advances a virtual clock
by that much, which makes sampling itself deterministic (used by grading).
"""

from __future__ import annotations

import bisect
import math
import random
import time
from dataclasses import dataclass

from ..units import MIB
from .backend import FixedDevicesBackend
from .samples import BackendKind, DeviceInfo, GpuSample, ProcessSample, Snapshot

GRID_S = 0.1
TOTAL_MIB = 143_771  # what nvidia-smi shows for an H200
BASELINE_MIB = 0.0  # NVML v2 "used" on an idle GPU with no process
CONTEXT_MIB = 520.0  # a CUDA context plus cuDNN/cuBLAS workspaces
POWER_IDLE_W = 78.0
POWER_LIMIT_W = 700.0
FIXED_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the epoch of deterministic runs
MAX_GPUS = 8


@dataclass
class _Job:
    start: float
    load_s: float
    train_s: float
    weights_mib: float
    peak_mib: float
    n_ramp_batches: int
    batch_s: float
    eval_every_s: float
    number: int
    stalls: list[tuple[float, float]]  # (start, end) of input-pipeline stalls, shared by all ranks

    @property
    def end(self) -> float:
        return self.start + self.load_s + self.train_s


class _Schedule:
    """The shared sequence of idle gaps and jobs, generated lazily from the seed."""

    def __init__(self, seed: int):
        self._rng = random.Random(seed * 7919 + 1)
        self._jobs: list[_Job] = []  # ~1 per minute of trace: small even for a day
        self._starts: list[float] = []
        self._next_start = self._rng.uniform(2.0, 5.0)

    def job_at(self, t: float) -> _Job | None:
        while self._next_start <= t:
            self._append()
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self._jobs[i].end:
            return self._jobs[i]
        return None

    def _append(self) -> None:
        r = self._rng
        load_s, train_s = r.uniform(2.0, 4.0), r.uniform(45.0, 110.0)
        start = self._next_start + load_s
        # in DDP a stall on one rank stalls them all at the next all-reduce
        stalls, t = [], start + r.expovariate(0.12)
        while t < start + train_s:
            stalls.append((t, t + r.uniform(0.4, 1.5)))
            t += r.expovariate(0.12)
        job = _Job(
            start=self._next_start,
            load_s=load_s,
            train_s=train_s,
            weights_mib=r.uniform(800.0, 6000.0),
            peak_mib=r.uniform(0.30, 0.82) * TOTAL_MIB,
            n_ramp_batches=r.randint(4, 9),
            batch_s=r.uniform(0.35, 0.8),
            eval_every_s=r.uniform(25.0, 40.0),
            number=len(self._jobs),
            stalls=stalls,
        )
        self._jobs.append(job)
        self._starts.append(job.start)
        self._next_start = job.end + r.uniform(4.0, 12.0)


class _SimGpu:
    """One GPU's state, advanced on the grid."""

    def __init__(self, index: int, seed: int, schedule: _Schedule):
        self.index = index
        self._schedule = schedule
        self._seed = seed
        self._reset()

    def _reset(self) -> None:
        self._rng = random.Random(self._seed * 1_000_003 + self.index * 7 + 11)
        self._mem_scale = 1.0 + self._rng.uniform(-0.03, 0.03)
        self.t = 0.0
        self.util_raw = 0.0
        self.util = 0.0  # as the NVML counter reports it (averaged)
        self.power = POWER_IDLE_W
        self.temp = 33.0 + self._rng.uniform(-2.0, 2.0)
        self.mem_mib = BASELINE_MIB
        self.clock = 345.0
        self.job: _Job | None = None

    def advance_to(self, t: float) -> None:
        if t < self.t:  # asked about the past: recompute from the start
            self._reset()
        while self.t + GRID_S <= t + 1e-9:
            self._step(self.t + GRID_S)

    def _step(self, t: float) -> None:
        r = self._rng
        job = self._schedule.job_at(t)
        self.job = job
        if job is None:
            target_util, self.mem_mib = r.uniform(0.0, 2.0), BASELINE_MIB
        else:
            since = t - job.start
            if since < job.load_s:  # context + weights, CPU-bound loading
                frac = since / job.load_s
                self.mem_mib = CONTEXT_MIB + job.weights_mib * min(1.0, frac * 1.5)
                target_util = r.uniform(0.0, 12.0)
            else:
                train_t = since - job.load_s
                batches = int(train_t / job.batch_s)
                # the caching allocator grows in steps over the first batches, then holds
                step = min(batches + 1, job.n_ramp_batches) / job.n_ramp_batches
                activations = (job.peak_mib - CONTEXT_MIB - job.weights_mib) * step
                self.mem_mib = (CONTEXT_MIB + job.weights_mib + max(0.0, activations)) * self._mem_scale
                in_eval = (train_t % job.eval_every_s) > job.eval_every_s - 4.0
                k = bisect.bisect_right(job.stalls, (t, math.inf)) - 1
                if k >= 0 and t < job.stalls[k][1]:
                    target_util = r.uniform(5.0, 30.0)
                elif in_eval:
                    target_util = r.uniform(45.0, 65.0)
                else:
                    target_util = min(100.0, r.gauss(95.0, 3.0))
        self.mem_mib = min(self.mem_mib, TOTAL_MIB * 0.985)
        self.util_raw = max(0.0, target_util)
        # NVML's counter averages over a fraction of a second
        self.util += (self.util_raw - self.util) * (1 - math.exp(-GRID_S / 0.3))
        load = self.util / 100.0
        power_target = POWER_IDLE_W + (POWER_LIMIT_W * 0.93 - POWER_IDLE_W) * load**1.2
        power_target += r.gauss(0.0, 4.0)
        self.power += (power_target - self.power) * (1 - math.exp(-GRID_S / 0.8))
        temp_target = 27.0 + 0.078 * self.power
        self.temp += (temp_target - self.temp) * (1 - math.exp(-GRID_S / 25.0))
        if load < 0.05:
            self.clock = 345.0
        else:
            throttle = max(0.0, self.temp - 78.0) * 15.0
            self.clock = min(1980.0, 1755.0 + 225.0 * load) - throttle
        self.t = t


class SimulatedBackend(FixedDevicesBackend):
    """``n_gpus`` (1-8) virtual H200s with believable, seeded traces.

    ``step_s=None``: time is the wall clock since the backend was made (for live
    demos). ``step_s=0.5``: every ``snapshot()`` advances a virtual clock by
    0.5 s and timestamps start at a fixed date, so a run is reproducible to the
    last digit (grading uses this).
    """

    kind: BackendKind = "simulated"

    def __init__(self, n_gpus: int = 2, seed: int = 0, step_s: float | None = None, start_time: float | None = None):
        if not isinstance(n_gpus, int) or not 1 <= n_gpus <= MAX_GPUS:
            raise ValueError(f"n_gpus must be a whole number from 1 to {MAX_GPUS}, got {n_gpus!r}")
        if step_s is not None and step_s <= 0:
            raise ValueError(f"step_s must be positive (seconds per snapshot), got {step_s!r}")
        self.seed = seed
        self.step_s = step_s
        self._schedule = _Schedule(seed)
        self._gpus = [_SimGpu(i, seed, self._schedule) for i in range(n_gpus)]
        self._t0_mono = time.monotonic()
        if start_time is None:
            start_time = FIXED_START if step_s is not None else time.time()
        self._start_time = start_time
        self._virtual_t = 0.0
        self._infos = [
            DeviceInfo(
                index=i,
                uuid=f"GPU-SIM{seed:04d}-{i:02d}00-4e1d-a000-00000000{i:04d}",
                name="NVIDIA H200 (simulated)",
                memory_total_bytes=TOTAL_MIB * MIB,
                power_limit_w=POWER_LIMIT_W,
            )
            for i in range(n_gpus)
        ]
        self.label = f"SIMULATED: {n_gpus} virtual H200 GPU(s), seed {seed}"

    def _now(self) -> float:
        if self.step_s is None:
            return time.monotonic() - self._t0_mono
        self._virtual_t += self.step_s
        return self._virtual_t

    def snapshot(self, processes: bool = False) -> Snapshot:
        start = time.perf_counter()
        t = self._now()
        stamp = self._start_time + t
        samples = []
        for gpu, info in zip(self._gpus, self._infos, strict=True):
            gpu.advance_to(t)
            samples.append(
                GpuSample(
                    timestamp=stamp,
                    index=info.index,
                    uuid=info.uuid,
                    name=info.name,
                    memory_used_bytes=int(gpu.mem_mib * MIB),
                    memory_total_bytes=TOTAL_MIB * MIB,
                    memory_reserved_bytes=int(491 * MIB),
                    utilization_pct=float(round(gpu.util)),
                    memory_busy_pct=float(round(gpu.util * 0.55)),
                    temperature_c=float(round(gpu.temp)),
                    power_w=round(gpu.power, 1),
                    power_limit_w=POWER_LIMIT_W,
                    sm_clock_mhz=float(round(gpu.clock / 15.0) * 15),
                    simulated=True,
                )
            )
        procs = self._processes() if processes else None
        return Snapshot(
            timestamp=stamp,
            source="simulated",
            gpus=tuple(samples),
            processes=procs,
            elapsed_s=time.perf_counter() - start,
        )

    def _processes(self) -> tuple[ProcessSample, ...]:
        out = []
        for gpu in self._gpus:
            if gpu.job is not None:
                # one training process per GPU, as torchrun starts them
                pid = 41_000 + gpu.job.number * 16 + gpu.index
                out.append(
                    ProcessSample(
                        gpu_index=gpu.index,
                        pid=pid,
                        used_memory_bytes=int(gpu.mem_mib * MIB),
                        name=f"python train.py (simulated rank {gpu.index})",
                        visible=False,
                    )
                )
        return tuple(out)
