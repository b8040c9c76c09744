"""Framework GPU memory: settings, reports, OOM-safe chunking and accumulation.

* ``peak_memory(device=None, label="")``: context manager, peak GPU memory and time of a block.
* PyTorch: ``set_memory_fraction``, ``set_allocator_config`` (``PYTORCH_ALLOC_CONF``),
  ``memory_report``, ``record_memory_history`` (snapshots for https://pytorch.org/memory_viz).
* TensorFlow: ``configure_tensorflow_memory`` (memory growth *or* a logical-device limit).
* ``forward_in_chunks(fn, batch, max_chunk=None) -> (output, chunk_used)``: halves the chunk on
  ``torch.cuda.OutOfMemoryError`` and never drops or repeats a sample.
* ``accumulating_train_step``: keeps the effective batch with gradient accumulation.

Names load on first use, so ``import course_utils.memory`` imports neither PyTorch nor TensorFlow.
"""

from __future__ import annotations

import importlib

from .peak import CPU_NOTE, PeakResult, peak_memory

_LAZY = {
    "forward_in_chunks": ".chunking",
    "ChunkOOMError": ".chunking",
    "accumulating_train_step": ".accumulation",
    "StepResult": ".accumulation",
    "set_memory_fraction": ".torch_config",
    "set_allocator_config": ".torch_config",
    "allocator_config_status": ".torch_config",
    "AllocatorConfigTooLate": ".torch_config",
    "FractionResult": ".torch_config",
    "memory_report": ".torch_report",
    "MemoryReport": ".torch_report",
    "record_memory_history": ".torch_report",
    "summarize_snapshot": ".torch_report",
    "SnapshotResult": ".torch_report",
    "configure_tensorflow_memory": ".tf_config",
    "configure_logical_cpus": ".tf_config",
    "tf_initialised": ".tf_config",
    "TensorFlowMemoryError": ".tf_config",
    "TfSettingsClash": ".tf_config",
    "TfTooLate": ".tf_config",
    "TfMemoryConfig": ".tf_config",
}

__all__ = ["CPU_NOTE", "PeakResult", "peak_memory", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'course_utils.memory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
