"""``forward_in_chunks``: run a function over a whole batch, in smaller chunks when it does not fit.

The tutorial's recovery (``except RuntimeError: ... model(x[:batch_size//2])``)
returns results for half the samples and silently drops the rest. Here every
sample is processed exactly once, in order:

* only ``torch.cuda.OutOfMemoryError`` is caught (other errors are real bugs);
* the retry happens *after* the ``except`` block has ended: while an exception is
  being handled, its traceback keeps the failed call's frames alive, and with them
  every intermediate tensor of the failed forward pass, so retrying inside the
  ``except`` block retries with that memory still taken;
* the chunk is halved and the same samples are tried again; outputs are kept only
  for chunks that succeeded, so nothing is dropped or duplicated;
* a single sample that does not fit raises :class:`ChunkOOMError` saying so.

``torch.cuda.empty_cache()`` is not called: on an OOM the caching allocator has
already released its cached blocks and retried before raising, so emptying the
cache would only slow the following allocations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from .batches import batch_size, check_output, concat, structure_of, take

log = logging.getLogger(__name__)


class ChunkOOMError(torch.cuda.OutOfMemoryError):
    """Even a chunk of one sample ran out of memory. Still a ``torch.cuda.OutOfMemoryError``."""


def _validate_max_chunk(max_chunk) -> int | None:
    if max_chunk is None:
        return None
    if isinstance(max_chunk, bool) or not isinstance(max_chunk, int):
        raise TypeError(f"max_chunk must be a whole number of samples or None, got {max_chunk!r}")
    if max_chunk < 1:
        raise ValueError(f"max_chunk must be at least 1 sample, got {max_chunk}")
    return max_chunk


def forward_in_chunks(fn: Callable, batch, max_chunk: int | None = None):
    """Return ``(output, chunk_used)``: ``fn`` applied to every sample of ``batch``, joined along dim 0.

    ``batch`` is a tensor or a tuple/list/dict of tensors with the samples along
    dim 0; ``fn(chunk)`` gets the same structure and must return per-sample
    outputs (a tensor or tuple/list/dict of tensors, dim 0 = samples in the
    chunk). The first try uses ``min(max_chunk, batch size)`` samples at a time;
    on ``torch.cuda.OutOfMemoryError`` the chunk is halved and the same samples
    retried. ``chunk_used`` is the chunk size that finished the batch: pass it as
    ``max_chunk`` next time to skip the failing tries. An empty batch (0 samples) is
    passed to ``fn`` once and its (empty) output returned, with ``max_chunk`` unchanged.

    Use it for inference (``torch.no_grad()``, ``model.eval()``): a failed try has
    run part of ``fn``, so side effects such as BatchNorm running statistics
    would count those samples twice. For training see ``accumulating_train_step``.
    """
    limit = _validate_max_chunk(max_chunk)
    n = batch_size(batch)
    if n == 0:
        # An empty batch (the end of a filtered data set, say): fn sees it once, so the empty
        # result has fn's own structure and trailing shape; nothing to split, no limit learnt.
        out = fn(batch)
        check_output(out, 0)
        return out, limit
    chunk = n if limit is None else min(limit, n)
    outputs: list = []
    structure = None
    start = 0
    while start < n:
        stop = min(start + chunk, n)
        out, oom_message = _attempt(fn, take(batch, start, stop))
        # Here the except block in _attempt has finished: the failed try's tensors are freed.
        if oom_message is not None:
            if chunk == 1:
                raise ChunkOOMError(
                    f"forward_in_chunks: a single sample (index {start} of {n}) does not fit in GPU memory, "
                    "so no chunk size can work. Free memory (delete unused tensors, use torch.no_grad() for "
                    "inference, bf16 autocast, a smaller model), or raise the per-process memory fraction. "
                    f"PyTorch said: {oom_message}"
                )
            log.info("out of memory with %d samples at index %d; retrying with %d", chunk, start, chunk // 2)
            chunk //= 2
            continue
        check_output(out, stop - start, like=structure)
        structure = structure_of(out)
        outputs.append(out)
        start = stop
    return (outputs[0] if len(outputs) == 1 else concat(outputs)), chunk


def _attempt(fn, chunk):
    """``(output, None)`` or ``(None, message)``; keeps no reference to the exception or its frames."""
    try:
        return fn(chunk), None
    except torch.cuda.OutOfMemoryError as exc:
        return None, str(exc).splitlines()[0] if str(exc) else "CUDA out of memory"
