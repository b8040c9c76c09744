"""A synthetic but learnable image data set, drawn on the fly: nothing to download.

Ten classes, five shapes and five textures, each drawn with a random position,
size, rotation, colour pair (light on dark or dark on light) and pixel noise.
Colour, position and size carry no information about the class, so a model
has to learn shape and texture, and test accuracy means something.

Every image is a pure function of ``(seed, split, index, image_size)``: the
same call gives the same pixels in any process, in any order, and in batches
of any size. That is what lets distributed ranks each draw only their own
shard and still agree on the data set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

CLASSES = (
    "disk",
    "square",
    "triangle",
    "plus",
    "ring",  # shapes
    "stripes",
    "checkerboard",
    "dots",
    "target",
    "grid",  # textures
)
NUM_CLASSES = len(CLASSES)
SPLITS = {"train": 0x7A11, "test": 0x7E57}
MIN_SIZE, MAX_SIZE = 16, 512
_N_PARAMS = 14
_MASK64 = (1 << 64) - 1


def _mix(*values: int) -> int:
    """splitmix64 over the values: a well spread 63-bit seed from small integers."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & _MASK64)) & _MASK64
        h = (h + 0x9E3779B97F4A7C15) & _MASK64
        z = h
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        h = z ^ (z >> 31)
    return h & ((1 << 63) - 1)


def label_of(index: int, seed: int = 0, split: str = "train") -> int:
    """The class of sample ``index``: each block of 10 consecutive indices holds every
    class once, in an order shuffled per block (balanced, but not ``index % 10``)."""
    block, pos = divmod(index, NUM_CLASSES)
    gen = torch.Generator().manual_seed(_mix(seed, SPLITS[split], block, 1))
    return int(torch.randperm(NUM_CLASSES, generator=gen)[pos])


def _sample_params(index: int, seed: int, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(_mix(seed, SPLITS[split], index, 2))
    params = torch.rand(_N_PARAMS, generator=gen)
    noise = torch.randn(3, size, size, generator=gen)
    return params, noise


def _signed_inside(labels: torch.Tensor, p: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """For each sample, a value > 0 inside the foreground and < 0 outside, in image units
    (the image spans [-1, 1]), so that one pixel of anti-aliasing is ``2 / size``."""
    cx = (p[:, 0] - 0.5) * 0.7
    cy = (p[:, 1] - 0.5) * 0.7
    r = 0.38 + 0.3 * p[:, 2]
    theta = p[:, 3] * 2 * math.pi
    period = 0.3 + 0.3 * p[:, 4]
    phase = p[:, 5] * 2 * math.pi
    col = lambda t: t[:, None, None]  # noqa: E731  (per-sample scalar -> broadcast over pixels)
    dx, dy = x - col(cx), y - col(cy)
    c, s = col(torch.cos(theta)), col(torch.sin(theta))
    u, v = c * dx + s * dy, -s * dx + c * dy
    d = torch.sqrt(u * u + v * v)
    r, period, phase = col(r), col(period), col(phase)
    wave = 2 * math.pi / period
    to_units = period / (2 * math.pi)  # a sine's slope is 2*pi/period per unit

    out = torch.empty_like(u)
    for k in range(NUM_CLASSES):
        sel = labels == k
        if not bool(sel.any()):
            continue
        uu, vv, dd, rr = u[sel], v[sel], d[sel], r[sel]
        pp, ph, w, tu = period[sel], phase[sel], wave[sel], to_units[sel]
        if k == 0:  # disk
            val = rr - dd
        elif k == 1:  # square
            val = 0.8 * rr - torch.maximum(uu.abs(), vv.abs())
        elif k == 2:  # equilateral triangle: inside all three edge half-planes
            edges = [math.pi / 2 + j * 2 * math.pi / 3 for j in range(3)]
            val = 0.5 * rr - torch.stack([math.cos(a) * uu + math.sin(a) * vv for a in edges]).amax(0)
        elif k == 3:  # plus
            arm = 0.3 * rr
            val = torch.maximum(
                torch.minimum(arm - uu.abs(), rr - vv.abs()), torch.minimum(arm - vv.abs(), rr - uu.abs())
            )
        elif k == 4:  # ring
            val = torch.minimum(dd - 0.55 * rr, rr - dd)
        elif k == 5:  # stripes
            val = torch.sin(w * uu + ph) * tu
        elif k == 6:  # checkerboard
            val = torch.sin(w * uu + ph) * torch.sin(w * vv + ph) * tu
        elif k == 7:  # dots on a square lattice
            val = (torch.cos(w * uu) + torch.cos(w * vv) - 1.2) * tu * 0.5
        elif k == 8:  # target: concentric rings around the centre
            val = torch.sin(w * dd + ph) * tu
        else:  # grid of thin lines
            fu = torch.remainder(uu / pp, 1.0) - 0.5
            fv = torch.remainder(vv / pp, 1.0) - 0.5
            val = (torch.maximum(fu.abs(), fv.abs()) - 0.38) * pp
        out[sel] = val
    return out


def render(labels: Sequence[int] | torch.Tensor, params: torch.Tensor, noise: torch.Tensor, size: int) -> torch.Tensor:
    """Draw a batch: ``labels`` (B,), ``params`` (B, 14) uniform in [0, 1), ``noise`` (B, 3, S, S)
    standard normal -> float32 images (B, 3, S, S) in [0, 1]."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    inside = _signed_inside(labels, params, x[None], y[None])
    mask = (0.5 + inside * (size / 2)).clamp(0, 1)[:, None]  # about one pixel of anti-aliasing
    # colours: one side dark, the other light, which side at random; hue free
    light = 0.55 + 0.45 * params[:, 6:9]
    dark = 0.45 * params[:, 9:12]
    flip = (params[:, 12] < 0.5)[:, None]
    fg = torch.where(flip, dark, light)[:, :, None, None]
    bg = torch.where(flip, light, dark)[:, :, None, None]
    sigma = (0.02 + 0.08 * params[:, 13])[:, None, None, None]
    return (bg + (fg - bg) * mask + sigma * noise).clamp(0, 1)


class SyntheticShapes(torch.utils.data.Dataset):
    """``n`` images of ``image_size`` px in 10 classes, drawn when asked for.

    ``ds[i]`` -> (float32 tensor (3, S, S) in [0, 1], int label). A DataLoader
    fetches whole batches through ``__getitems__``, which draws them at once.
    """

    classes = CLASSES

    def __init__(self, n: int = 10_000, image_size: int = 32, seed: int = 0, split: str = "train"):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive whole number of images, got {n!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or not MIN_SIZE <= image_size <= MAX_SIZE:
            raise ValueError(
                f"image_size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE} "
                f"(the course uses 32 and 224), got {image_size!r}"
            )
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be a whole number, got {seed!r}")
        self.n, self.image_size, self.seed, self.split = n, image_size, seed, split

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"SyntheticShapes(n={self.n}, image_size={self.image_size}, seed={self.seed}, split={self.split!r})"

    def _check(self, index: int) -> int:
        index = int(index)
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} is out of range for {self!r}")
        return index

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 3, S, S) and labels (B,) for these indices, drawn in one go."""
        indices = [self._check(i) for i in indices]
        if not indices:
            s = self.image_size
            return torch.empty(0, 3, s, s), torch.empty(0, dtype=torch.long)
        labels = torch.tensor([label_of(i, self.seed, self.split) for i in indices])
        drawn = [_sample_params(i, self.seed, self.split, self.image_size) for i in indices]
        params = torch.stack([p for p, _ in drawn])
        noise = torch.stack([z for _, z in drawn])
        return render(labels, params, noise, self.image_size), labels

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        images, labels = self.batch([index])
        return images[0], int(labels[0])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        images, labels = self.batch(indices)
        return list(zip(images.unbind(0), labels.tolist(), strict=True))

    def labels(self) -> torch.Tensor:
        """Every label, without drawing any image."""
        return torch.tensor([label_of(i, self.seed, self.split) for i in range(self.n)])
