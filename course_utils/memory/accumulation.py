"""A training step that keeps the effective batch when the batch does not fit.

Halving the batch on OOM (the tutorial's advice) changes the optimisation: half
the samples, noisier gradients, a different effective learning rate. Gradient
accumulation gives the same update as the full batch: run micro-batches, each
loss weighted by its share of the batch, call ``backward`` on each (gradients
add up in ``.grad``), then take one optimizer step.

When a micro-batch runs out of memory, the gradients accumulated so far are
partial, so the whole step restarts from zeroed gradients with micro-batches
half the size. Equality with the full batch holds for per-sample losses; layers
that mix samples (BatchNorm in training mode) see smaller batches and differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .batches import batch_size, take
from .chunking import ChunkOOMError

REDUCTIONS = ("mean", "sum")


@dataclass
class StepResult:
    loss: float  # the loss of the whole batch, as loss_fn(batch) would give it
    micro_batch: int  # samples per micro-batch that completed the step; pass it next time
    micro_steps: int  # backward passes in the completed step
    ooms: int  # out-of-memory errors recovered from during this step
    samples: int

    def __str__(self) -> str:
        extra = f", recovered from {self.ooms} OOM(s)" if self.ooms else ""
        return (
            f"loss {self.loss:.4f} over {self.samples} samples in {self.micro_steps} micro-batch(es) "
            f"of up to {self.micro_batch}{extra}"
        )


def accumulating_train_step(
    loss_fn: Callable, batch, optimizer: torch.optim.Optimizer, micro_batch: int | None = None, reduction: str = "mean"
) -> StepResult:
    """One optimizer step over all of ``batch``, in micro-batches if the whole batch does not fit.

    ``loss_fn(chunk)`` returns the scalar loss of a chunk (same structure as
    ``batch``: a tensor or tuple/list/dict of tensors, samples along dim 0), with
    ``reduction`` saying whether it averages (``"mean"``, PyTorch's default) or
    adds (``"sum"``) over samples. Starts with ``micro_batch`` samples (default:
    the whole batch) and halves on ``torch.cuda.OutOfMemoryError``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS} (how loss_fn combines samples), got {reduction!r}")
    if micro_batch is not None and (
        isinstance(micro_batch, bool) or not isinstance(micro_batch, int) or micro_batch < 1
    ):
        raise ValueError(f"micro_batch must be a whole number >= 1 or None, got {micro_batch!r}")
    n = batch_size(batch)
    size = n if micro_batch is None else min(micro_batch, n)
    ooms = 0
    while True:
        optimizer.zero_grad(set_to_none=True)
        total, steps, oom_message = _accumulate(loss_fn, batch, n, size, reduction)
        # Outside the except block: the failed micro-batch's graph and activations are gone.
        if oom_message is None:
            break
        ooms += 1
        if size == 1:
            optimizer.zero_grad(set_to_none=True)  # leave no partial gradients behind
            raise ChunkOOMError(
                "accumulating_train_step: a micro-batch of one sample does not fit in GPU memory. Reduce the "
                "model's memory (bf16 autocast, activation checkpointing, a smaller model) or raise the "
                f"per-process memory fraction. PyTorch said: {oom_message}"
            )
        size //= 2
    optimizer.step()
    return StepResult(loss=total, micro_batch=size, micro_steps=steps, ooms=ooms, samples=n)


def _accumulate(loss_fn, batch, n: int, size: int, reduction: str):
    """Backward over every micro-batch: ``(loss, steps, None)`` or ``(None, steps, oom message)``."""
    total = None
    steps = 0
    for start in range(0, n, size):
        stop = min(start + size, n)
        try:
            loss = loss_fn(take(batch, start, stop))
            _check_loss(loss)
            weight = (stop - start) / n if reduction == "mean" else 1.0
            (loss * weight).backward()
        except torch.cuda.OutOfMemoryError as exc:
            return None, steps, str(exc).splitlines()[0] if str(exc) else "CUDA out of memory"
        part = loss.detach() * weight
        total = part if total is None else total + part
        steps += 1
    if total is None:  # no micro-batch ran
        raise ValueError(f"the batch has no samples (dim 0 is {n}): nothing to train on")
    return float(total), steps, None  # one device sync per step, not one per micro-batch


def _check_loss(loss) -> None:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(
            f"loss_fn must return a scalar loss tensor (got {shape}); reduce per-sample losses "
            "with .mean() or .sum() and say which with reduction="
        )
    if not loss.requires_grad:
        raise ValueError(
            "loss_fn returned a loss that does not require grad: nothing to train. Is the model "
            "in torch.no_grad(), or are its parameters frozen?"
        )
