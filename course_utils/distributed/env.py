"""Where a process runs: its rank under torchrun, its device, its backend.

torchrun tells each worker who it is through environment variables (RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT); we read those and
nothing else, so the same code runs under torchrun, SLURM's srun+torchrun or a
Kubernetes job.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

# Imported here, before any process group exists, on purpose: torch.distributed.nn.functional
# evaluates `group=group.WORLD` as default arguments when first imported. DDP imports it lazily
# (through torch.distributed._shard), so imported after init_process_group it would hold the
# world group for ever, destroy_process_group() could not free it, and gloo's worker threads
# would outlive it into the interpreter's shutdown (docs/multi-gpu.md, "Ending a DDP job").
import torch.distributed.nn

CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = CPU
    backend: str | None = None  # None: not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    @property
    def nnodes(self) -> int:
        return max(1, self.world_size // max(1, self.local_world_size))


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device='cuda' was asked for, but PyTorch sees no CUDA GPU here "
            "(python -m course_utils doctor says why); use device='cpu' or 'auto'."
        )
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def init_from_torchrun(requested_device: str = "auto", timeout_s: float = 300.0) -> DistEnv:
    """Join the process group torchrun set up: NCCL with one GPU per process, else gloo on CPU.

    ``timeout_s`` bounds every collective: a rank that waits longer for a dead or
    stuck peer fails with an error instead of hanging the job.
    """
    if not under_torchrun():
        raise RuntimeError(
            "not started by torchrun (RANK/WORLD_SIZE/LOCAL_RANK are unset): launch with "
            "`torchrun --nproc-per-node=N -m course_utils.distributed.worker ...` or "
            "course_utils.distributed.launch_torchrun(...)"
        )
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    device = pick_device(requested_device)
    timeout = timedelta(seconds=timeout_s)
    if device.type == "cuda":
        if local_world > torch.cuda.device_count():
            raise RuntimeError(
                f"{local_world} processes on this node but only {torch.cuda.device_count()} GPUs "
                "are visible: start at most one process per GPU (--nproc-per-node=gpu)."
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        # device_id binds the communicator to this GPU at once (and avoids NCCL guessing)
        dist.init_process_group("nccl", timeout=timeout, device_id=device)
        backend = "nccl"
    else:
        dist.init_process_group("gloo", timeout=timeout)
        backend = "gloo"
    return DistEnv(rank, world, local_rank, local_world, device, backend)


GLOO_THREAD_PREFIXES = ("pt_gloo", "gloo_")  # the names gloo's worker and TCP-loop threads give themselves


def gloo_threads() -> list[str]:
    """Names of this process's gloo threads that are alive (Linux; empty elsewhere)."""
    tasks = Path("/proc/self/task")
    names = []
    for task in tasks.glob("*") if tasks.is_dir() else ():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:  # the thread ended while we looked
            continue
        if name.startswith(GLOO_THREAD_PREFIXES):
            names.append(name)
    return sorted(names)


def end_process_group() -> list[str]:
    """Leave the process group at the end of a job that succeeded; call it on every rank, after
    everything that holds the group (the DDP model, its optimizer's closure...) is gone.

    Why not just ``dist.destroy_process_group()``: it only drops torch's own references. The
    group, and gloo's worker threads with it, live on while anything else refers to it (a DDP
    wrapper does). A gloo worker thread drops its reference to a finished collective's tensors
    *after* the caller's ``wait()`` returned; if the main thread has reached interpreter shutdown
    by then, taking the GIL ends that thread inside a C++ destructor: ``terminate called without
    an active exception``, SIGABRT/SIGSEGV at exit. Freeing the group joins those threads first.

    Returns the gloo threads still alive afterwards (empty when the ending was clean).
    """
    gc.collect()  # a DDP wrapper caught in a reference cycle still holds the group
    dist.destroy_process_group()
    return gloo_threads()


def single_env(requested_device: str = "auto") -> DistEnv:
    device = pick_device(requested_device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # an explicit index for memory stats
    return DistEnv(device=device)
