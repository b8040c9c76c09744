"""Checkpoints: written by rank 0 only, atomically, read by every rank on resume."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

FILENAME = "checkpoint.pt"


def save_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int, config
) -> Path:
    """Save the *unwrapped* model (no ``module.`` or ``_orig_mod.`` prefixes, so a single-GPU
    run can load what DDP wrote) and the optimizer after ``epoch``.

    Written to a temporary file, flushed to disk (``fsync``), renamed over the old one, and
    the folder flushed too: a crash, even a power cut, leaves either the previous checkpoint or
    the new one, complete, never a half-written or empty file under the checkpoint's name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "config": dataclasses.asdict(config),
            },
            f,
        )
        f.flush()
        os.fsync(f.fileno())  # the data is on disk before the name points at it
    os.replace(tmp, path)
    fsync_folder(path.parent)  # and the rename itself is on disk
    return path


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename or a new file in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # Windows cannot open a folder: its renames are journalled by NTFS
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(
    path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, config, map_location=None
) -> int:
    """Load into ``model`` (and ``optimizer``); returns the epoch the checkpoint finished."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    saved = state.get("config", {})
    for key in ("model", "dataset", "image_size"):
        if key in saved and saved[key] != getattr(config, key):
            raise ValueError(
                f"{path} was written for {key}={saved[key]!r}, but this run has "
                f"{key}={getattr(config, key)!r}: resume with the same settings or use a new run_dir."
            )
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])
