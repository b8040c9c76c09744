"""The ``--gpus`` value: build it correctly, parse it as docker does, say what it selects.

``docker run --gpus VALUE`` turns VALUE into a *device request*. The client
parses VALUE as one CSV record (Go's ``encoding/csv``), so a field that itself
contains commas (``device=0,1`` or ``capabilities=compute,utility``) must be
wrapped in double quotes, and the shell needs single quotes around the whole
value to keep those double quotes: ``--gpus 'all,"capabilities=compute,utility"'``.

``parse_gpus_value`` mirrors the client's parser (docker/cli ``opts/gpus.go``)
so a value can be checked where no docker client is installed; the tests
compare it with the real client. ``visible_devices`` mirrors what the daemon's
NVIDIA driver then does with the request (moby ``daemon/nvidia_linux.go``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .gocsv import CsvError, read_record, write_record

# NVIDIA driver capabilities the daemon understands (moby's allNvidiaCaps).
# "utility" mounts nvidia-smi and NVML; "compute" mounts CUDA.
DRIVER_CAPABILITIES = ("compute", "compat32", "graphics", "utility", "video", "display")

_INT64 = (-(2**63), 2**63 - 1)
_ATOI = re.compile(r"[+-]?[0-9]+")
# A GPU is named by index, UUID (GPU-...), MIG UUID (MIG-...) or GPU:MIG index pair.
_DEVICE_ID = re.compile(r"(?:[0-9]+|[0-9]+:[0-9]+|GPU-[0-9A-Fa-f-]+|MIG-[0-9A-Za-z/-]+)")


class GpusParseError(ValueError):
    """The docker client would reject this ``--gpus`` value before contacting a daemon."""


class DaemonWouldReject(ValueError):
    """The client accepts the value, but the daemon refuses the request it encodes."""


@dataclass(frozen=True)
class GpuRequest:
    """What docker sends the daemon for one ``--gpus`` flag (a DeviceRequest).

    count: -1 means all GPUs; device_ids: explicit GPUs (indices, UUIDs, MIG ids).
    """

    count: int = 0
    device_ids: tuple[str, ...] | None = None
    capabilities: tuple[str, ...] = ("gpu",)
    driver: str = ""
    options: dict[str, str] = field(default_factory=dict)


def _parse_count(text: str) -> int:
    if text == "all":
        return -1
    if not _ATOI.fullmatch(text):
        raise GpusParseError(f'invalid count ({text}): value must be either "all" or an integer: invalid syntax')
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise GpusParseError(f'invalid count ({text}): value must be either "all" or an integer: value out of range')
    return value


def parse_gpus_value(value: str) -> GpuRequest:
    """Parse a ``--gpus`` value (after the shell removed its quotes) as the docker client does."""
    try:
        fields = read_record(value)
    except CsvError as exc:
        raise GpusParseError(str(exc)) from None
    count: int | None = None
    device_ids: tuple[str, ...] | None = None
    capabilities: tuple[str, ...] = ("gpu",)
    driver = ""
    options: dict[str, str] = {}
    seen: set[str] = set()
    for item in fields:
        key, has_value, val = item.partition("=")
        if key in seen:
            raise GpusParseError(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not has_value:  # a bare field is a count: "all" or a number
            seen.add("count")
            count = _parse_count(key)
        elif key == "driver":
            driver = val
        elif key == "count":
            count = _parse_count(val)
        elif key == "device":
            device_ids = tuple(val.split(","))
        elif key == "capabilities":
            capabilities = (*val.split(","), "gpu")
        elif key == "options":
            try:
                pairs = read_record(val)
            except CsvError as exc:
                raise GpusParseError(f"failed to read gpu options: {exc}") from None
            options = {k: v for k, _, v in (p.partition("=") for p in pairs)}
        else:
            raise GpusParseError(f"unexpected key '{key}' in '{item}'")
    if count is None:
        count = 0 if device_ids is not None else 1  # docker's default: one GPU
    return GpuRequest(count=count, device_ids=device_ids, capabilities=capabilities, driver=driver, options=options)


def visible_devices(request: GpuRequest) -> str:
    """The NVIDIA_VISIBLE_DEVICES the daemon's NVIDIA driver sets for ``request``.

    Raises DaemonWouldReject where the daemon refuses the request.
    """
    if request.count != 0 and request.device_ids:
        raise DaemonWouldReject(
            "cannot set both Count and DeviceIDs on device request: the daemon refuses this. "
            "It usually means an unquoted device list such as --gpus device=0,1, which the CSV "
            "parser reads as device=0 plus a count of 1; write --gpus '\"device=0,1\"'."
        )
    unknown = [c for c in request.capabilities if c != "gpu" and c not in DRIVER_CAPABILITIES]
    if unknown:
        raise DaemonWouldReject(
            f"no device driver offers the capabilities {unknown}: the NVIDIA driver knows "
            f"{', '.join(DRIVER_CAPABILITIES)}"
        )
    if request.device_ids:
        return ",".join(request.device_ids)
    if request.count < 0:
        return "all"
    if request.count == 0:
        return "void"  # no GPU at all: `--gpus 0` means zero GPUs, not GPU 0
    return ",".join(str(i) for i in range(request.count))


def driver_capabilities(request: GpuRequest) -> str | None:
    """NVIDIA_DRIVER_CAPABILITIES set by the daemon, or None when left to the image."""
    caps = [c for c in request.capabilities if c in DRIVER_CAPABILITIES]
    return ",".join(caps) if caps else None


def _check_device_ids(devices: Sequence[str | int] | str | int) -> list[str]:
    if isinstance(devices, str | int):
        raise ValueError(f"devices must be a list such as [0, 1], got {devices!r}")
    ids = []
    for dev in devices:
        if isinstance(dev, bool) or not isinstance(dev, str | int):
            raise ValueError(
                f"a GPU is an index (0), a UUID ('GPU-...'), a MIG device ('0:1' or 'MIG-...'); got {dev!r}"
            )
        text = str(dev).strip()
        if (isinstance(dev, int) and dev < 0) or not _DEVICE_ID.fullmatch(text):
            raise ValueError(
                f"{dev!r} is not a GPU: use an index (0), a UUID ('GPU-...'), or a MIG device "
                "('0:1' = GPU 0, MIG instance 1, or 'MIG-...' from `nvidia-smi -L`)"
            )
        ids.append(text)
    if not ids:
        raise ValueError("devices is empty: pass at least one GPU, or gpus='all'")
    if len(set(ids)) != len(ids):
        raise ValueError(f"devices lists a GPU twice: {ids}")
    return ids


def _check_capabilities(capabilities: Iterable[str] | None) -> list[str] | None:
    if capabilities is None:
        return None
    if isinstance(capabilities, str):
        capabilities = [c for c in capabilities.split(",") if c]
    caps = [c.strip() for c in capabilities]
    if not caps:
        raise ValueError("capabilities is empty: leave it out (None) or name some, e.g. ['compute', 'utility']")
    bad = [c for c in caps if c not in DRIVER_CAPABILITIES]
    if bad:
        raise ValueError(
            f"unknown driver capabilities {bad}: choose from {', '.join(DRIVER_CAPABILITIES)} "
            "(compute = CUDA, utility = nvidia-smi and NVML)"
        )
    return caps


def gpus_value(gpus: str | int | Sequence[str | int] = "all", capabilities: Iterable[str] | str | None = None) -> str:
    """The ``--gpus`` value (before shell quoting) that selects ``gpus`` with ``capabilities``.

    gpus: "all", a positive count (the first N GPUs), or a list of GPUs (indices, UUIDs, MIG ids).
    """
    caps = _check_capabilities(capabilities)
    fields: list[str]
    if isinstance(gpus, str) and gpus == "all":
        fields = ["all"]
    elif isinstance(gpus, int) and not isinstance(gpus, bool):
        if gpus <= 0:
            raise ValueError(
                f"a GPU count must be at least 1, got {gpus} (docker reads `--gpus 0` as *no* "
                "GPU; to pick GPU 0 pass gpus=[0])"
            )
        fields = [str(gpus)]
    elif isinstance(gpus, str):
        raise ValueError(f"gpus={gpus!r}: use 'all', a count such as 2, or a list of GPUs such as [0, 1]")
    else:
        fields = ["device=" + ",".join(_check_device_ids(gpus))]
    if caps:
        fields.append("capabilities=" + ",".join(caps))
    value = write_record(fields)
    parse_gpus_value(value)  # never hand out a value the client would reject
    return value
