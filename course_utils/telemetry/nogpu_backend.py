"""The backend for a machine without a usable GPU: it carries the reason."""

from __future__ import annotations

import time

from .backend import FixedDevicesBackend
from .samples import BackendKind, DeviceInfo, NoGpuReason, Snapshot


class NoGpuBackend(FixedDevicesBackend):
    kind: BackendKind = "none"

    def __init__(self, reason: NoGpuReason):
        self._infos: list[DeviceInfo] = []
        self.reason = reason
        self.label = f"no GPU: {reason.message}"

    def snapshot(self, processes: bool = False) -> Snapshot:
        return Snapshot(timestamp=time.time(), source="none", gpus=(), processes=() if processes else None)


def no_gpu_reason(backend: object) -> NoGpuReason | None:
    """Why ``backend`` has no GPU to read (it is a :class:`NoGpuBackend`), or None when it has GPUs."""
    return backend.reason if isinstance(backend, NoGpuBackend) else None
