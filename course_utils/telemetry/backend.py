"""What every backend offers the sampler, the sinks and the widgets: the :class:`Backend` protocol.

Four classes satisfy it: :class:`NvmlBackend` (real GPUs), :class:`SimulatedBackend` (seeded
traces), :class:`LoopDrivenBackend` (a simulated GPU fed by the learner's loop) and
:class:`NoGpuBackend` (no GPU, with the reason). :class:`FixedDevicesBackend` holds what the
three that own no driver handle have in common.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .samples import BackendKind, DeviceInfo, Snapshot


@runtime_checkable
class Backend(Protocol):
    """A source of GPU snapshots. ``kind`` says which family it is, ``label`` says it to a person."""

    kind: BackendKind
    label: str

    def snapshot(self, processes: bool = False) -> Snapshot:
        """Read every watched GPU once (and its processes, when asked)."""
        ...

    def devices(self) -> list[DeviceInfo]: ...

    def device_count(self) -> int: ...

    def close(self) -> None:
        """Release what the backend holds; calling it twice is harmless."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


class ClosingContext:
    """``with backend:`` closes it on the way out."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FixedDevicesBackend(ClosingContext):
    """A backend whose devices are fixed when it is made (``self._infos``) and that holds nothing to close."""

    _infos: list[DeviceInfo]

    def devices(self) -> list[DeviceInfo]:
        return list(self._infos)

    def device_count(self) -> int:
        return len(self._infos)
