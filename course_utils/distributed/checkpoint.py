"""Checkpoints: written by rank 0 only, atomically, read by every rank on resume."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

FILENAME = "checkpoint.pt"


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    epoch: int, config) -> Path:
    """Save the *unwrapped* model (no ``module.`` or ``_orig_mod.`` prefixes, so a single-GPU
    run can load what DDP wrote) and the optimizer after ``epoch``.

    Written to a temporary file and renamed: a crash while saving leaves the previous
    checkpoint intact instead of a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "config": dataclasses.asdict(config)}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    config, map_location=None) -> int:
    """Load into ``model`` (and ``optimizer``); returns the epoch the checkpoint finished."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    saved = state.get("config", {})
    for key in ("model", "dataset", "image_size"):
        if key in saved and saved[key] != getattr(config, key):
            raise ValueError(f"{path} was written for {key}={saved[key]!r}, but this run has "
                             f"{key}={getattr(config, key)!r}: resume with the same settings or use a new run_dir.")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"])
