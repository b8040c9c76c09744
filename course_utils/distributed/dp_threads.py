"""DataParallel with one long-lived thread per GPU: an experiment, not a recommendation.

``nn.DataParallel`` runs each replica's forward in a *new* ``threading.Thread`` on
every call (``torch.nn.parallel.parallel_apply``). Anything PyTorch keeps per
thread starts empty on every step in those threads:

* the cuDNN v8/v9 frontend's execution-plan cache is ``thread_local``
  (``aten/src/ATen/native/cudnn/Conv_v8.cpp``), so with ``cudnn.benchmark=True``
  every step may autotune every convolution again;
* the autocast dtype is thread-local too: ``parallel_apply`` re-enters autocast
  without a dtype, so a bf16 run executes its replicas in float16.

:class:`PersistentThreadDataParallel` keeps the threads (and passes the autocast
dtype), so the probe in ``benchmarks/dataparallel_probe.py`` can test whether the
thread churn is what makes DataParallel slow. The fix for real work is DDP.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

_pools: dict[Any, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(key) -> ThreadPoolExecutor:
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dp-worker-{key}")
        return _pools[key]


def persistent_parallel_apply(
    modules: Sequence[nn.Module],
    inputs: Sequence[Any],
    kwargs_tup: Sequence[dict] | None = None,
    devices: Sequence[int | None] | None = None,
) -> list[Any]:
    """Like ``torch.nn.parallel.parallel_apply``, but replica ``i`` runs on the same thread every call.

    Grad mode and autocast (enabled *and* dtype) are copied from the caller. ``devices``
    may be None on a CPU (one thread per replica index), which is how the tests run it.
    """
    if len(modules) != len(inputs):
        raise ValueError(f"{len(modules)} modules but {len(inputs)} inputs")
    kwargs_tup = list(kwargs_tup) if kwargs_tup is not None else [{}] * len(modules)
    devices = list(devices) if devices is not None else [None] * len(modules)
    grad_enabled = torch.is_grad_enabled()
    cuda = any(d is not None for d in devices)
    amp_on = torch.is_autocast_enabled("cuda") if cuda else torch.is_autocast_enabled("cpu")
    amp_dtype = torch.get_autocast_dtype("cuda" if cuda else "cpu")
    streams = [torch.cuda.current_stream(d) if d is not None else None for d in devices]

    def run(module, inp, kwargs, device, stream):
        with torch.set_grad_enabled(grad_enabled):
            if device is None:
                with torch.autocast("cpu", dtype=amp_dtype, enabled=amp_on):
                    return module(*_as_tuple(inp), **kwargs)
            with (
                torch.cuda.device(device),
                torch.cuda.stream(stream),
                torch.autocast("cuda", dtype=amp_dtype, enabled=amp_on),
            ):
                return module(*_as_tuple(inp), **kwargs)

    futures = [
        _pool(d if d is not None else f"cpu{i}").submit(run, m, x, k, d, s)
        for i, (m, x, k, d, s) in enumerate(zip(modules, inputs, kwargs_tup, devices, streams, strict=True))
    ]
    outputs, first_error = [], None
    for i, fut in enumerate(futures):
        try:
            outputs.append(fut.result())
        except Exception as exc:  # wait for every replica before raising, as parallel_apply does
            if first_error is None:
                first_error = RuntimeError(f"in replica {i} on device {devices[i]}: {type(exc).__name__}: {exc}")
                first_error.__cause__ = exc
    if first_error is not None:
        raise first_error
    return outputs


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, list | tuple) else (x,)


class PersistentThreadDataParallel(nn.DataParallel):
    """``nn.DataParallel`` whose replicas run on long-lived per-GPU threads."""

    def parallel_apply(self, replicas, inputs, kwargs):
        return persistent_parallel_apply(replicas, inputs, kwargs, self.device_ids[: len(replicas)])
