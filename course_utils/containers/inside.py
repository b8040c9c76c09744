"""What a notebook can check from inside a container (read-only): variables, device files, /dev/shm, MIG.

Nothing here changes the host or a GPU: MIG is read through NVML's query calls
only (:func:`course_utils.telemetry.nvml.mig_status`), never ``nvidia-smi mig`` or ``-mig``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..telemetry.nvml import MigInfo, mig_status  # MIG is read through NVML, which only telemetry imports
from ..units import MIB

__all__ = [
    "DOCKER_DEFAULT_SHM",
    "NVIDIA_VARIABLES",
    "MigInfo",
    "device_nodes",
    "mig_status",
    "nvidia_env",
    "shm_advice",
    "shm_bytes",
]

# Variables the NVIDIA Container Toolkit reads (or CUDA images set), and CUDA's own selector.
NVIDIA_VARIABLES = (
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "NVIDIA_REQUIRE_CUDA",
    "NVIDIA_MIG_CONFIG_DEVICES",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_MPS_PIPE_DIRECTORY",
    "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT",
)
DOCKER_DEFAULT_SHM = 64 * MIB  # docker gives a container a 64 MiB /dev/shm unless told otherwise


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
        return (
            text + ": docker's default. NCCL between GPUs and DataLoader workers need more: start the "
            "container with --shm-size=8g (or --ipc=host)."
        )
    return text + ": larger than docker's 64 MiB default, enough for NCCL and DataLoader workers in most jobs."
