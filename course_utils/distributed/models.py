"""The models the course trains: a tiny CNN for CPUs, torchvision ResNets for GPUs.

torchvision is imported only for the ResNets: it adds seconds to every process
start, and a DDP job starts one process per rank.
"""

from __future__ import annotations

import torch
from torch import nn

MODELS = ("tinycnn", "resnet18", "resnet50")


class TinyCNN(nn.Module):
    """Four 3x3 convolutions and a linear head; any image size (global average pooling).

    GroupNorm, not BatchNorm, on purpose: GroupNorm normalises each image on its
    own, so DDP on 2 ranks computes exactly what one process computes on the
    concatenated batch. BatchNorm would use each rank's own batch statistics
    (SyncBatchNorm fixes that on GPUs; it does not run on CPU).
    """

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        w = width

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, w),
            *block(w, w),
            nn.MaxPool2d(2),
            *block(w, 2 * w),
            nn.MaxPool2d(2),
            *block(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # images arrive in [0, 1]; centre them so plain SGD trains from the first step
        return self.head(self.features((x - 0.5) * 4))


def build_model(name: str, num_classes: int = 10, seed: int | None = 0) -> nn.Module:
    """A freshly initialised model (random weights: nothing is downloaded).

    With ``seed`` set, every process that builds it gets the same weights; DDP
    would broadcast rank 0's weights anyway, but single-process baselines and
    tests need them equal too.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if seed is not None:
        torch.manual_seed(seed)
    if name == "tinycnn":
        return TinyCNN(num_classes)
    import torchvision

    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
