"""The one module that imports NVML's Python binding (``nvidia-ml-py``, imported as ``pynvml``).

The rest of the course reaches NVML through here or through :class:`NvmlBackend`: loading the
binding (with the fix when it is missing), making NVML errors by code, which versions of the
binding are installed, and the read-only MIG queries. Error codes and what they mean live in
:mod:`.errors`.

Every function that talks to NVML takes a ``loader`` (or ``nvml``) so that tests and the
simulated labs can pass a module-like stand-in with the same calls.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from ..units import GIB
from .errors import ERR_NOT_SUPPORTED, NoGpuError, error_code
from .samples import NoGpuReason

OFFICIAL_BINDING = "nvidia-ml-py"  # the PyPI package NVIDIA publishes
DEPRECATED_BINDING = "pynvml"  # a PyPI package of the same import name, now a deprecated shim


def load_nvml() -> ModuleType:
    """Import the official binding, or explain how to get it."""
    try:
        import pynvml
    except ImportError as exc:
        raise NoGpuError(
            NoGpuReason(
                code="nvml_not_installed",
                message="The Python binding for NVML is not installed.",
                fix="pip install nvidia-ml-py  (the official binding; it is imported as "
                "`pynvml`. Do not install the deprecated `pynvml` package.)",
                detail=str(exc),
            )
        ) from exc
    return pynvml


def error_class() -> type[Exception]:
    """The binding's ``NVMLError`` (every NVML failure is an instance of it)."""
    return load_nvml().NVMLError


def nvml_error(code: int) -> Exception:
    """The exception the real binding raises for ``code`` (its subclass, e.g. ``NVMLError_NotSupported``)."""
    return load_nvml().NVMLError(code)


@dataclass(frozen=True)
class BindingVersions:
    """Which NVML bindings pip installed: the official one's version, and whether the shim is there too."""

    official: str | None
    deprecated_shim: bool


def binding_versions() -> BindingVersions:
    """Read from the installed packages' metadata; imports neither package."""
    try:
        official = importlib.metadata.distribution(OFFICIAL_BINDING).version
    except importlib.metadata.PackageNotFoundError:
        official = None
    try:
        importlib.metadata.distribution(DEPRECATED_BINDING)
        shim = True
    except importlib.metadata.PackageNotFoundError:
        shim = False
    return BindingVersions(official, shim)


# -- MIG, read-only (never ``nvidia-smi mig``: nothing here changes a GPU) ---------------------


@dataclass(frozen=True)
class MigInfo:
    gpu: int
    name: str
    mode: str  # "enabled", "disabled", "not supported", or an error
    pending: str | None = None  # a mode set but not yet active (needs a GPU reset)
    devices: tuple[str, ...] = ()  # MIG device UUIDs with their memory


_MIG_STATE = {0: "disabled", 1: "enabled"}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _mig_devices(nvml, handle) -> tuple[str, ...]:
    devices = []
    for k in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, k)
        except Exception:
            continue  # an empty slot
        uuid = _text(nvml.nvmlDeviceGetUUID(mig))
        total = nvml.nvmlDeviceGetMemoryInfo(mig).total
        devices.append(f"{uuid} ({total / GIB:.0f} GiB)")
    return tuple(devices)


def mig_status(loader: Callable[[], ModuleType] = load_nvml) -> list[MigInfo] | str:
    """MIG mode of every GPU, read-only. A string says why there is nothing to read."""
    try:
        nvml = loader()
        nvml.nvmlInit()
    except NoGpuError as exc:
        return exc.reason.message
    except Exception as exc:  # NVMLError_LibraryNotFound and friends: no driver here
        return f"NVML did not start ({type(exc).__name__}): no NVIDIA driver here"
    try:
        out = []
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(nvml.nvmlDeviceGetName(handle))
            try:
                current, pending = nvml.nvmlDeviceGetMigMode(handle)
            except Exception as exc:
                kind = "not supported" if error_code(exc) == ERR_NOT_SUPPORTED else f"unreadable ({exc})"
                out.append(MigInfo(i, name, kind))
                continue
            devices = _mig_devices(nvml, handle) if current else ()
            out.append(
                MigInfo(
                    i,
                    name,
                    _MIG_STATE.get(current, str(current)),
                    None if pending == current else _MIG_STATE.get(pending, str(pending)),
                    devices,
                )
            )
        return out
    finally:
        nvml.nvmlShutdown()
