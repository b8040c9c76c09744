"""What a notebook can check from inside a container (read-only): variables, device files, /dev/shm, MIG.

Nothing here changes the host or a GPU: MIG is read through NVML's query calls
only, never ``nvidia-smi mig`` or ``-mig``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..telemetry.errors import NoGpuError
from ..telemetry.nvml_backend import load_nvml
from ..units import GIB, MIB

# Variables the NVIDIA Container Toolkit reads (or CUDA images set), and CUDA's own selector.
NVIDIA_VARIABLES = ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_REQUIRE_CUDA",
                    "NVIDIA_MIG_CONFIG_DEVICES", "CUDA_VISIBLE_DEVICES", "CUDA_MPS_PIPE_DIRECTORY",
                    "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT")
DOCKER_DEFAULT_SHM = 64 << 20  # docker gives a container a 64 MiB /dev/shm unless told otherwise


def nvidia_env(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    env = os.environ if env is None else env
    return {name: env.get(name) for name in NVIDIA_VARIABLES}


def device_nodes(root: str | Path = "/") -> list[str]:
    """The /dev/nvidia* files present (GPU nodes, nvidiactl, nvidia-uvm, nvidia-caps for MIG)."""
    dev = Path(root) / "dev"
    found = sorted(p.name for p in dev.glob("nvidia*"))
    caps = dev / "nvidia-caps"
    if caps.is_dir():
        found += sorted(f"nvidia-caps/{p.name}" for p in caps.iterdir())
    return found


def shm_bytes(path: str | Path = "/dev/shm") -> int | None:
    """Size of the shared-memory filesystem, or None where there is none (macOS, Windows)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_frsize * st.f_blocks


def shm_advice(size: int | None, in_container: bool) -> str:
    if size is None:
        return "no /dev/shm here (not Linux): nothing to check"
    where = "this container" if in_container else "this machine"
    text = f"/dev/shm in {where}: {size / MIB:,.0f} MiB"
    if size <= DOCKER_DEFAULT_SHM:
        return (text + ": docker's default. NCCL between GPUs and DataLoader workers need more: start the "
                "container with --shm-size=8g (or --ipc=host).")
    return text + ": larger than docker's 64 MiB default, enough for NCCL and DataLoader workers in most jobs."


@dataclass(frozen=True)
class MigInfo:
    gpu: int
    name: str
    mode: str  # "enabled", "disabled", "not supported", or an error
    pending: str | None = None  # a mode set but not yet active (needs a GPU reset)
    devices: tuple[str, ...] = ()  # MIG device UUIDs with their memory


def mig_status(loader: Callable = load_nvml) -> list[MigInfo] | str:
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
            name = nvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            try:
                current, pending = nvml.nvmlDeviceGetMigMode(handle)
            except Exception as exc:
                kind = "not supported" if "NotSupported" in type(exc).__name__ else f"unreadable ({exc})"
                out.append(MigInfo(i, name, kind))
                continue
            devices = []
            if current:
                for k in range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
                    try:
                        mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, k)
                    except Exception:
                        continue  # an empty slot
                    uuid = nvml.nvmlDeviceGetUUID(mig)
                    uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
                    total = nvml.nvmlDeviceGetMemoryInfo(mig).total
                    devices.append(f"{uuid} ({total / GIB:.0f} GiB)")
            state = {0: "disabled", 1: "enabled"}
            out.append(MigInfo(i, name, state.get(current, str(current)),
                               None if pending == current else state.get(pending, str(pending)), tuple(devices)))
        return out
    finally:
        nvml.nvmlShutdown()
