"""PyTorch memory settings: the per-process fraction and the caching-allocator options.

Two different kinds of setting:

* the **fraction** (``torch.cuda.set_per_process_memory_fraction``) can be set at
  any time; it caps what this process's caching allocator may reserve on one GPU
  (going over raises ``torch.cuda.OutOfMemoryError``). It is cooperative: other
  processes and other frameworks are not limited by it.
* the **allocator options** (``PYTORCH_ALLOC_CONF``, alias ``PYTORCH_CUDA_ALLOC_CONF``,
  e.g. ``expandable_segments:True``) are read once, when PyTorch first uses its
  allocator (CUDA initialisation). Setting the variable afterwards changes nothing,
  silently. :func:`set_allocator_config` detects that and says so.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from ..units import fmt_bytes

ENV = "PYTORCH_ALLOC_CONF"
ALIAS = "PYTORCH_CUDA_ALLOC_CONF"  # the old name; PyTorch before 2.9 reads only this one
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class AllocatorConfigTooLate(RuntimeError):
    """The allocator options were set after PyTorch had already read them."""


def parse_config(text: str) -> dict[str, str]:
    """``"expandable_segments:True,max_split_size_mb:128"`` -> ``{"expandable_segments": "True", ...}``."""
    options: dict[str, str] = {}
    for item in (part.strip() for part in _split_top_level(text or "")):
        if not item:
            continue
        key, sep, value = item.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not _KEY.match(key) or not value:
            raise ValueError(
                f"allocator option {item!r} is not of the form key:value "
                "(e.g. expandable_segments:True or max_split_size_mb:128)"
            )
        options[key] = value
    return options


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: ``roundup_power2_divisions:[256:1,512:2]`` is one option."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def format_config(options: Mapping[str, object]) -> str:
    """The inverse of :func:`parse_config`; Python booleans become ``True``/``False`` as PyTorch expects."""
    parts = []
    for key, value in options.items():
        if not _KEY.match(str(key)):
            raise ValueError(f"allocator option name {key!r} is not valid (lower case letters, digits, _)")
        parts.append(f"{key}:{value}")
    return ",".join(parts)


def _in_use(effective: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Every option we asked for is in what PyTorch uses, with our value (other keys may be listed too)."""
    return all(str(effective.get(k, "")).lower() == str(v).lower() for k, v in wanted.items())


def cuda_index(torch, device) -> int:
    """GPU number for ``None`` (current), an int, ``"cuda"``, ``"cuda:N"`` or a torch.device."""
    if device is None:
        return torch.cuda.current_device()
    dev = torch.device(device)
    if dev.type != "cuda":
        raise ValueError(f"device {device!r} is not a CUDA device; use None, a GPU number or 'cuda:N'")
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if not 0 <= index < torch.cuda.device_count():
        raise ValueError(f"there is no GPU {index}: this process sees {torch.cuda.device_count()}")
    return index


def _torch():
    import torch

    return torch


def _cuda_initialised(torch) -> bool:
    return bool(torch.cuda.is_initialized())


def _read_settings(torch) -> str | None:
    """What the allocator actually uses (PyTorch >= 2.9); reading it makes PyTorch parse the variable."""
    getter = getattr(torch._C, "_accelerator_getAllocatorSettings", None)
    return None if getter is None else getter()


_TOO_LATE_FIX = (
    "Restart the Python process (in Jupyter: Kernel > Restart) and call set_allocator_config(...) "
    "before anything touches the GPU, or set the variable outside Python: "
    "`export PYTORCH_ALLOC_CONF=expandable_segments:True`, `docker run -e PYTORCH_ALLOC_CONF=...`, "
    "or an ENV line in the Dockerfile."
)


def set_allocator_config(
    options: str | Mapping[str, object] | None = None, *, env: MutableMapping[str, str] | None = None, **kwargs
) -> str:
    """Set PyTorch's caching-allocator options for this process; returns the value set.

    >>> set_allocator_config(expandable_segments=True)      # before the first CUDA allocation
    'expandable_segments:True'

    Raises :class:`AllocatorConfigTooLate` (and leaves the environment as it was)
    if CUDA is already initialised or PyTorch already read other options, and
    ``ValueError`` for malformed or unknown options.
    """
    env = os.environ if env is None else env
    given = dict(parse_config(options) if isinstance(options, str) else (options or {}))
    given.update(kwargs)
    if not given:
        raise ValueError("give at least one option, e.g. set_allocator_config(expandable_segments=True)")
    value = format_config(given)
    wanted = parse_config(value)
    torch = _torch()
    if _cuda_initialised(torch):
        raise AllocatorConfigTooLate(
            f"CUDA is already initialised in this process, so PyTorch has already read its allocator options "
            f"({ENV}={env.get(ENV, env.get(ALIAS, '(unset)'))!r}); setting {ENV}={value!r} now would change "
            f"nothing. {_TOO_LATE_FIX}"
        )
    before = {name: env.get(name) for name in (ENV, ALIAS)}
    # both names: current PyTorch reads PYTORCH_ALLOC_CONF first, older versions only the alias
    env[ENV] = value
    env[ALIAS] = value
    try:
        effective = _read_settings(torch) if env is os.environ else None
    except (ValueError, RuntimeError) as exc:
        _restore(env, before)
        raise ValueError(f"PyTorch rejected the allocator options {value!r}: {exc}") from None
    # An empty answer cannot be told apart from "not parsed yet" on every version: only a different answer
    # proves that PyTorch already read other options.
    if effective and not _in_use(parse_config(effective), wanted):
        _restore(env, before)
        raise AllocatorConfigTooLate(
            f"PyTorch has already read its allocator options in this process (it uses {effective!r}), "
            f"so {value!r} would be ignored. {_TOO_LATE_FIX}"
        )
    return value


def _restore(env: MutableMapping[str, str], before: Mapping[str, str | None]) -> None:
    for name, old in before.items():
        if old is None:
            env.pop(name, None)
        else:
            env[name] = old


def allocator_config_status(env: Mapping[str, str] | None = None) -> dict:
    """Where the allocator options stand, without making PyTorch read them early."""
    env = os.environ if env is None else env
    status = {
        ENV: env.get(ENV),
        ALIAS: env.get(ALIAS),
        "torch_imported": "torch" in sys.modules,
        "cuda_initialised": False,
        "in_use": None,
    }
    if env.get(ENV) and env.get(ALIAS) and env[ENV] != env[ALIAS]:
        status["warning"] = (
            f"{ENV} and {ALIAS} differ; current PyTorch uses {ENV}, versions before 2.9 "
            f"use {ALIAS}. Set one value in both, or unset {ALIAS}."
        )
    if status["torch_imported"]:
        torch = sys.modules["torch"]
        status["cuda_initialised"] = _cuda_initialised(torch)
        if status["cuda_initialised"]:
            status["in_use"] = _read_settings(torch)
    status["can_still_change"] = not status["cuda_initialised"]
    return status


@dataclass
class FractionResult:
    fraction: float
    device: str
    applied: bool
    cap_bytes: int | None = None  # what this process may reserve on the device
    total_bytes: int | None = None
    reserved_bytes: int | None = None  # already reserved when the cap was set
    note: str = ""

    def __str__(self) -> str:
        if not self.applied:
            return f"fraction {self.fraction:g} not set: {self.note}"
        text = (
            f"{self.device}: this process may reserve {fmt_bytes(self.cap_bytes)} "
            f"({self.fraction:g} of {fmt_bytes(self.total_bytes)}); reserved now {fmt_bytes(self.reserved_bytes)}"
        )
        return text + (f". {self.note}" if self.note else "")


def set_memory_fraction(fraction: float, device=None) -> FractionResult:
    """Cap this process's PyTorch memory on one GPU at ``fraction`` of its total memory.

    Works at any time and applies to later allocations; memory already reserved
    above the cap is not taken away. On a machine without CUDA nothing is set and
    the result says so.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"fraction must be a number between 0 and 1, got {fraction!r}")
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be > 0 and <= 1 (a share of the GPU's total memory), got {fraction}")
    torch = _torch()
    if not torch.cuda.is_available():
        return FractionResult(
            fraction,
            "cpu",
            applied=False,
            note="no CUDA GPU here; on a GPU this caps what PyTorch's caching allocator may "
            "reserve, and going over raises torch.cuda.OutOfMemoryError",
        )
    index = cuda_index(torch, device)
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    total = torch.cuda.get_device_properties(index).total_memory
    reserved = torch.cuda.memory_reserved(index)
    cap = int(total * fraction)
    note = ""
    if reserved > cap:
        note = (
            f"{fmt_bytes(reserved)} is already reserved, more than the cap: new allocations fail until "
            "tensors are freed and torch.cuda.empty_cache() returns the cached blocks"
        )
    return FractionResult(
        fraction, f"cuda:{index}", applied=True, cap_bytes=cap, total_bytes=total, reserved_bytes=reserved, note=note
    )
