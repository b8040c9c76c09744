"""Build ``docker run`` arguments for GPUs: argv lists, and a shell-quoted string to show.

    >>> shell_join(docker_gpu_args("all", capabilities=["compute", "utility"]))
    '--gpus \\'all,"capabilities=compute,utility"\\''
    >>> docker_gpu_args([0, "0:1"], via="cdi")
    ['--device', 'nvidia.com/gpu=0', '--device', 'nvidia.com/gpu=0:1']

Every argument list is checked before it is returned (the ``--gpus`` value by
the same parser docker uses), and bad input raises ValueError with what to do.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence

from .cdi import cdi_name
from .gpus import gpus_value

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
# repository[:tag][@digest]; lowercase repository, as docker's reference grammar demands.
_IMAGE = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


def parse_size(text: str) -> int:
    """Docker's memory sizes (``--shm-size 8g``, ``512m``, ``1GiB``) in bytes; units are powers of 1024."""
    match = _SIZE.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"invalid size {text!r}: write a number with an optional unit, e.g. '8g' or '512m'")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"size {text!r} must be more than zero")
    return value


def mig_device(gpu: int, instance: int) -> str:
    """A MIG device by position: GPU ``gpu``, MIG device ``instance`` (as `nvidia-smi -L` lists them)."""
    for name, value in (("gpu", gpu), ("instance", instance)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an index of 0 or more, got {value!r}")
    return f"{gpu}:{instance}"


def docker_gpu_args(
    gpus: str | int | Sequence[str | int] | None = "all",
    *,
    capabilities: Iterable[str] | str | None = None,
    via: str = "gpus",
    ipc_host: bool = False,
    shm_size: str | None = None,
) -> list[str]:
    """Arguments that give a container GPUs (and, for NCCL, enough shared memory).

    gpus: "all", a count N (the first N GPUs; ``--gpus`` only), a list of GPUs (indices, UUIDs,
    MIG devices "0:1" or "MIG-..."), or None for no GPU arguments.
    via: "gpus" (``--gpus``, the NVIDIA runtime hook) or "cdi" (``--device nvidia.com/gpu=...``).
    capabilities: driver capabilities, e.g. ["compute", "utility"] (``--gpus`` only).
    ipc_host / shm_size: NCCL and DataLoader workers use /dev/shm, which docker caps at 64 MiB;
    share the host's IPC namespace or give a larger size (not both).
    """
    if via not in ("gpus", "cdi"):
        raise ValueError(f"via={via!r}: use 'gpus' (--gpus) or 'cdi' (--device nvidia.com/gpu=...)")
    if ipc_host and shm_size is not None:
        raise ValueError(
            "choose --ipc=host or --shm-size, not both: with --ipc=host the container uses "
            "the host's /dev/shm and --shm-size has no effect"
        )
    args: list[str] = []
    if gpus is not None:
        if via == "gpus":
            args += ["--gpus", gpus_value(gpus, capabilities)]
        else:
            if capabilities is not None:
                raise ValueError(
                    "capabilities apply to --gpus only: a CDI device brings the driver files its "
                    "spec lists (nvidia-ctk includes compute and utility)"
                )
            if isinstance(gpus, int) and not isinstance(gpus, bool):
                raise ValueError(f"CDI has no count: list the GPUs instead, e.g. gpus={list(range(max(gpus, 1)))}")
            devices = ["all"] if gpus == "all" else gpus
            if isinstance(devices, str | bool):  # a bool is an int, not a list: gpus=True is no GPU list
                raise ValueError(f"gpus={gpus!r}: use 'all' or a list of GPUs such as [0, 1]")
            if not devices:
                raise ValueError("gpus is an empty list: pass at least one GPU, 'all', or None")
            names = [cdi_name(d) for d in devices]
            if len(set(names)) != len(names):
                raise ValueError(f"a GPU is listed twice: {names}")
            for name in names:
                args += ["--device", name]
    elif capabilities is not None:
        raise ValueError("capabilities without GPUs: pass gpus='all' (or a list) as well")
    if ipc_host:
        args.append("--ipc=host")
    if shm_size is not None:
        parse_size(shm_size)
        args.append(f"--shm-size={shm_size}")
    return args


def check_image(image: str) -> str:
    if not isinstance(image, str) or not _IMAGE.fullmatch(image):
        raise ValueError(
            f"{image!r} is not an image reference docker accepts: lowercase repository, optional "
            ":tag, e.g. 'ubuntu:24.04' or 'nvidia/cuda:13.0.2-base-ubuntu24.04'"
        )
    return image


def image_pinning(image: str) -> str:
    """How firmly a reference names one image: 'digest', 'tag', or 'floating' (no tag, or latest)."""
    check_image(image)
    if "@sha256:" in image:
        return "digest"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    return "floating" if tag in (None, "latest") else "tag"


def docker_run(
    image: str,
    command: Sequence[str] = (),
    *,
    gpus: str | int | Sequence[str | int] | None = "all",
    capabilities: Iterable[str] | str | None = None,
    via: str = "gpus",
    ipc_host: bool = False,
    shm_size: str | None = None,
    rm: bool = True,
    ports: Mapping[int, int] | None = None,
    env: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """A whole ``docker run`` argv: ``["docker", "run", "--rm", <gpu args>, ..., image, *command]``."""
    if isinstance(command, str):
        raise ValueError(f"command must be a list of words, e.g. ['nvidia-smi', '-L'], not the string {command!r}")
    argv = ["docker", "run"]
    if rm:
        argv.append("--rm")
    argv += docker_gpu_args(gpus, capabilities=capabilities, via=via, ipc_host=ipc_host, shm_size=shm_size)
    for host, container in (ports or {}).items():
        for port in (host, container):
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"ports maps host port -> container port (1-65535), got {host!r}: {container!r}")
        argv += ["-p", f"{host}:{container}"]
    for key, value in (env or {}).items():
        if not key or "=" in key:
            raise ValueError(f"environment variable name {key!r} is empty or contains '='")
        argv += ["-e", f"{key}={value}"]
    argv += list(extra)
    argv.append(check_image(image))
    argv += list(command)
    return argv


def shell_join(argv: Sequence[str]) -> str:
    """The argv as one line to paste into a POSIX shell (quotes kept where the shell needs them)."""
    return shlex.join(argv)
