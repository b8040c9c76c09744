"""Splitting a batch (a tensor, or a tuple/list/dict of them) along dim 0, and joining outputs.

Kept apart from the OOM logic so chunking and gradient accumulation slice the
same way, and so every rule about what a "batch" is lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def batch_size(batch, what: str = "batch") -> int:
    """Number of samples: dim 0 of every tensor, which must agree."""
    sizes: list[tuple[str, int]] = []

    def visit(node, path):
        if isinstance(node, torch.Tensor):
            if node.dim() == 0:
                raise ValueError(f"{what}{path} is a 0-d tensor: every tensor needs a batch dimension (dim 0)")
            sizes.append((path or "", node.shape[0]))
        elif isinstance(node, Mapping):
            if not node:
                raise ValueError(f"{what}{path} is an empty dict: nothing to split")
            for key, value in node.items():
                visit(value, f"{path}[{key!r}]")
        elif isinstance(node, (tuple, list)):
            if not node:
                raise ValueError(f"{what}{path} is an empty {type(node).__name__}: nothing to split")
            for i, value in enumerate(node):
                visit(value, f"{path}[{i}]")
        else:
            raise TypeError(
                f"{what}{path} is a {type(node).__name__}; give tensors, or tuples/lists/dicts of "
                "tensors, all with the samples along dim 0"
            )

    visit(batch, "")
    distinct = {n for _, n in sizes}
    if len(distinct) > 1:
        listing = ", ".join(f"{what}{p or ''}: {n}" for p, n in sizes)
        raise ValueError(f"the tensors in the {what} disagree on the number of samples (dim 0): {listing}")
    return sizes[0][1]


def take(batch, start: int, stop: int):
    """Samples ``start:stop`` of every tensor (views, no copy), same structure."""
    if isinstance(batch, torch.Tensor):
        return batch[start:stop]
    if isinstance(batch, Mapping):
        part = {k: take(v, start, stop) for k, v in batch.items()}
        return part if type(batch) is dict else type(batch)(part)  # type: ignore[call-arg]  # a dict subclass
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(take(v, start, stop) for v in batch))
    return type(batch)(take(v, start, stop) for v in batch)


def concat(parts: list):
    """Join per-chunk outputs along dim 0; every part must have the same structure."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts, dim=0)
    if isinstance(first, Mapping):
        joined = {k: concat([p[k] for p in parts]) for k in first}
        return joined if type(first) is dict else type(first)(joined)  # type: ignore[call-arg]  # a dict subclass
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(concat([p[i] for p in parts]) for i in range(len(first))))
    return type(first)(concat([p[i] for p in parts]) for i in range(len(first)))


def check_output(out, expected: int, like=None) -> None:
    """``fn`` must return per-sample outputs: dim 0 == chunk length, same structure every call."""
    try:
        n = batch_size(out, what="output")
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"fn's output cannot be joined chunk by chunk: {exc}. Return per-sample outputs "
            "(a tensor or tuple/dict of tensors with dim 0 = number of samples); a reduction "
            "such as a mean loss cannot be split, compute it after joining."
        ) from None
    if n != expected:
        raise ValueError(
            f"fn returned {n} rows for a chunk of {expected} samples: forward_in_chunks needs one "
            "output row per input sample (dim 0) to keep them in order. A reduction over the "
            "batch (mean, sum) cannot be computed chunk by chunk; do it after joining."
        )
    if like is not None and structure_of(out) != like:
        raise ValueError(
            "fn returned a different structure for different chunks "
            f"({structure_of(out)} vs {like}); outputs cannot be joined"
        )


def structure_of(node):
    """Container types, keys, and per-sample shape and dtype of every tensor: what must match to join."""
    if isinstance(node, torch.Tensor):
        return ("tensor", tuple(node.shape[1:]), node.dtype)
    if isinstance(node, Mapping):
        return ("dict", tuple((k, structure_of(v)) for k, v in node.items()))
    return (type(node).__name__, tuple(structure_of(v) for v in node))
