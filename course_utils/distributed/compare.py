"""One GPU vs DataParallel vs DDP on the same configuration, from a notebook.

On a GPU machine: single = 1 GPU, DataParallel and DDP = every GPU.
On a CPU-only machine: single = one process, DDP = ``nproc`` gloo processes,
and every process gets the same number of threads (cores / processes), so
"scaling" compares like with like; DataParallel has no GPU to spread over and
only calls the model, which its row says.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .config import TrainConfig
from .launch import default_nproc, launch_torchrun
from .progress import ProgressView
from .trainer import MODES, train


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with ``n`` intra-op threads (None: leave as is), then restore."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_comparison(
    cfg: TrainConfig,
    modes: tuple[str, ...] = MODES,
    nproc: int | None = None,
    timeout_s: float = 600.0,
    echo: bool = True,
    show_progress: bool = True,
) -> list[dict]:
    """Train ``cfg`` in each mode; returns the result rows (see ``results.comparison_table``)."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
    nproc = nproc or default_nproc()
    on_gpu = torch.cuda.is_available() and cfg.device != "cpu"
    threads = None if on_gpu else max(1, (os.cpu_count() or 1) // nproc)
    rows = []
    for mode in modes:
        if mode == "ddp":
            job = launch_torchrun(cfg, nproc, timeout_s=timeout_s, echo=echo, show_progress=show_progress)
            if job.result is None:  # launch_torchrun raises first (check=True); never a silent gap in the table
                raise RuntimeError(f"the DDP run wrote no result (exit code {job.returncode})")
            rows.append(job.result)
            continue
        view = ProgressView(mode) if show_progress else None
        with torch_threads(threads):
            rows.append(train(cfg, mode, on_event=view.update if view else None, log=print if echo else None))
    return rows
