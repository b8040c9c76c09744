"""Check the GPU flags of a ``docker run`` argv without any docker client.

This catches what the client itself accepts but the daemon would refuse or
misread (``--gpus device=0,1`` unquoted; ``--device nvidia.com/gpu=0,1``), and
works where no docker client is installed.
"""

from __future__ import annotations

from collections.abc import Sequence

from .args import parse_size
from .cdi import parse_cdi_name
from .gpus import DaemonWouldReject, GpusParseError, parse_gpus_value, visible_devices

_RUN_SUBCOMMANDS = ("run", "create")


def _flag_values(argv: Sequence[str], name: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg[len(name) + 1 :])
    return values


def lint_gpu_flags(argv: Sequence[str]) -> list[str]:
    """Problems with the GPU-related flags of a ``docker run``/``create`` argv (empty: none found)."""
    words = list(argv)
    if len(words) < 2 or words[0] != "docker":
        return []
    sub = words[2] if words[1] == "container" and len(words) > 2 else words[1]
    if sub not in _RUN_SUBCOMMANDS:
        return []
    problems = []
    for value in _flag_values(words, "--gpus"):
        try:
            request = parse_gpus_value(value)
            visible_devices(request)
        except GpusParseError as exc:
            problems.append(f"--gpus {value!r}: the docker client rejects it: {exc}")
        except DaemonWouldReject as exc:
            problems.append(f"--gpus {value!r}: {exc}")
    for value in _flag_values(words, "--device"):
        if value.startswith("/"):
            continue  # a host device path, e.g. /dev/nvidia0 (prefer --gpus or CDI for GPUs)
        try:
            parse_cdi_name(value)
        except ValueError as exc:
            problems.append(f"--device {value!r}: {exc}")
    shm = _flag_values(words, "--shm-size")
    for value in shm:
        try:
            parse_size(value)
        except ValueError as exc:
            problems.append(f"--shm-size: {exc}")
    if shm and "host" in _flag_values(words, "--ipc"):
        problems.append("--ipc=host with --shm-size: the host's /dev/shm is used and --shm-size has no effect")
    return problems
