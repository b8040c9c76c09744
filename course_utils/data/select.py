"""One entry point for the trainers: a data set by name, synthetic or from disk."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .real import DatasetNotFoundError, cifar10, image_folder
from .shapes import SyntheticShapes

DEFAULT_SIZES = {"train": 10_000, "test": 2_000}


def load_dataset(
    name: str = "shapes",
    split: str = "train",
    *,
    image_size: int = 32,
    n: int | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
) -> torch.utils.data.Dataset:
    """``name``: ``"shapes"`` (synthetic, always there), ``"cifar10"`` (from disk) or
    ``"folder:PATH"`` (an ImageFolder; ``PATH/train`` and ``PATH/test`` are used when they exist).
    ``n`` keeps the first ``n`` samples (for real sets) or sets the synthetic set's size."""
    if split not in DEFAULT_SIZES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive whole number of samples or None, got {n!r}")
    if name == "shapes":
        return SyntheticShapes(n or DEFAULT_SIZES[split], image_size, seed=seed, split=split)
    if name == "cifar10":
        transform = None
        if image_size != 32:
            from torchvision import transforms

            transform = transforms.Compose([transforms.Resize(image_size), transforms.ToTensor()])
        ds = cifar10(root, split, transform=transform)
    elif name.startswith("folder:"):
        path = Path(name[len("folder:") :]).expanduser()
        ds = image_folder(path / split if (path / split).is_dir() else path, image_size)
    else:
        raise ValueError(f"unknown data set {name!r}: use 'shapes', 'cifar10' or 'folder:PATH'")
    if n is not None and n < len(ds):
        ds = torch.utils.data.Subset(ds, range(n))
    return ds


__all__ = ["DatasetNotFoundError", "load_dataset"]
