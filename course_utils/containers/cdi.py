"""CDI device names: ``--device nvidia.com/gpu=all``.

With the Container Device Interface, the NVIDIA Container Toolkit (>= 1.18 by
default) writes a spec, ``/var/run/cdi/nvidia.yaml``, naming each GPU, each MIG
device and ``all``; ``nvidia-ctk cdi list`` prints the names. Docker >= 28.2
has CDI on by default and passes such a name with ``--device``.

The docker client decides whether a ``--device`` value is a CDI name with the
CDI project's parser (``pkg/parser``); anything else it treats as a host path
such as ``/dev/nvidia0``. ``is_cdi_name`` mirrors that parser, so that
``nvidia.com/gpu=0,1`` (a comma is not allowed: pass two ``--device`` flags)
is caught before it silently becomes a path.
"""

from __future__ import annotations

import re

NVIDIA_GPU_KIND = "nvidia.com/gpu"

_VENDOR_OR_CLASS = re.compile(r"[A-Za-z](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_DEVICE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?")


def parse_cdi_name(text: str) -> tuple[str, str, str]:
    """Split ``vendor/class=name``; raise ValueError saying what is wrong."""
    if not text or text.startswith("/"):
        raise ValueError(f"{text!r} is a path, not a CDI device name (vendor/class=name, e.g. nvidia.com/gpu=0)")
    kind, eq, name = text.partition("=")
    vendor, slash, cls = kind.partition("/")
    if not eq or not name or not slash or not vendor or not cls:
        raise ValueError(f"{text!r} is not a CDI device name: expected vendor/class=name, e.g. nvidia.com/gpu=0")
    # The reference parser (Go) crashes on one-character vendor or class names; docker 28.2's
    # client panics on `--device a/b=c`. Refuse them here with a message instead.
    for part, what in ((vendor, "vendor"), (cls, "class")):
        if len(part) < 2 or not _VENDOR_OR_CLASS.fullmatch(part):
            raise ValueError(
                f"{text!r}: CDI {what} {part!r} must start with a letter, end with a letter or "
                "digit, have at least two characters and contain only letters, digits, '_', '-', '.'"
            )
    if not _DEVICE_NAME.fullmatch(name):
        hint = " (one device per --device flag: repeat the flag)" if "," in name else ""
        raise ValueError(
            f"{text!r}: CDI device name {name!r} may contain only letters, digits, '_', '-', '.', "
            f"':' and must start and end with a letter or digit{hint}"
        )
    return vendor, cls, name


def is_cdi_name(text: str) -> bool:
    try:
        parse_cdi_name(text)
    except ValueError:
        return False
    return True


def cdi_name(device: str | int, kind: str = NVIDIA_GPU_KIND) -> str:
    """``0`` -> ``nvidia.com/gpu=0``; ``"0:1"`` (MIG) -> ``nvidia.com/gpu=0:1``; ``"all"`` -> ``...=all``."""
    if isinstance(device, bool) or not isinstance(device, str | int):
        raise ValueError(f"a CDI device is a GPU index, 'all', a UUID or a MIG id such as '0:1'; got {device!r}")
    if isinstance(device, int) and device < 0:
        raise ValueError(f"GPU index must be 0 or more, got {device}")
    name = f"{kind}={str(device).strip()}"
    parse_cdi_name(name)
    return name
