"""The backend for a machine without a usable GPU: it carries the reason."""

from __future__ import annotations

import time

from .samples import DeviceInfo, NoGpuReason, Snapshot


class NoGpuBackend:
    kind = "none"

    def __init__(self, reason: NoGpuReason):
        self.reason = reason
        self.label = f"no GPU: {reason.message}"

    def snapshot(self, processes: bool = False) -> Snapshot:
        return Snapshot(timestamp=time.time(), source="none", gpus=(),
                        processes=() if processes else None)

    def devices(self) -> list[DeviceInfo]:
        return []

    def device_count(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
