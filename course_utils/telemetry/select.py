"""Choosing where the numbers come from: real GPUs, simulated ones, or none.

``COURSE_GPU_MODE`` sets the course-wide mode: ``auto`` (default: real GPUs if
NVML works, otherwise CPU only), ``real``, ``simulated`` or ``cpu``.
``COURSE_SIMULATED_GPUS`` sets how many virtual GPUs the simulated mode shows.
"""

from __future__ import annotations

import os
from typing import Literal, get_args

from .backend import Backend
from .errors import NoGpuError
from .nogpu_backend import NoGpuBackend
from .nvml_backend import NvmlBackend
from .samples import NoGpuReason
from .simulated_backend import MAX_GPUS, SimulatedBackend

MODE_ENV = "COURSE_GPU_MODE"
SIMULATED_GPUS_ENV = "COURSE_SIMULATED_GPUS"
# The modes COURSE_GPU_MODE accepts, and the three a course runs in once "auto" is resolved.
GpuMode = Literal["auto", "real", "simulated", "cpu"]
CourseMode = Literal["real", "simulated", "cpu"]
MODES: tuple[GpuMode, ...] = get_args(GpuMode)
DEFAULT_SIMULATED_GPUS = 2


def _env_mode() -> GpuMode:
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r} is not a mode: set it to one of {', '.join(MODES)}, or unset it")
    return mode


def _env_simulated_gpus() -> int:
    raw = os.environ.get(SIMULATED_GPUS_ENV, "").strip()
    if not raw:
        return DEFAULT_SIMULATED_GPUS
    try:
        n = int(raw)
    except ValueError:
        n = None
    if n is None or not 1 <= n <= MAX_GPUS:
        raise ValueError(
            f"{SIMULATED_GPUS_ENV}={raw!r} is not a number of simulated GPUs: set it to a whole "
            f"number from 1 to {MAX_GPUS}, or unset it (default {DEFAULT_SIMULATED_GPUS})"
        )
    return n


def check_environment() -> None:
    """Raise ValueError (one line, with the fix) if COURSE_GPU_MODE or COURSE_SIMULATED_GPUS is
    set to something unusable, even where this run would not read it: a typo should not go
    unnoticed until the day it matters."""
    _env_mode()
    _env_simulated_gpus()


def open_backend(
    mode: GpuMode | None = None,
    *,
    simulate: int | None = None,
    seed: int = 0,
    step_s: float | None = None,
    indices: list[int] | None = None,
    fallback: str | None = None,
    nvml=None,
) -> Backend:
    """Open the backend the course should read.

    ``simulate=N`` is a shortcut for ``mode="simulated"`` with N GPUs.
    ``fallback="simulated"``: in ``auto`` mode, show simulated GPUs (clearly
    labelled) instead of nothing when no real GPU is usable; the notebooks that
    are *about* watching GPUs use this. Never raises for a missing GPU: the
    :class:`NoGpuBackend` it returns carries the reason and the fix.
    """
    if mode is None:
        mode = "simulated" if simulate is not None else _env_mode()
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if fallback not in (None, "simulated"):
        raise ValueError("fallback must be None or 'simulated'")
    if mode == "simulated":
        return SimulatedBackend(simulate if simulate is not None else _env_simulated_gpus(), seed=seed, step_s=step_s)
    if mode == "cpu":
        return NoGpuBackend(
            NoGpuReason(
                code="cpu_mode",
                message=f"GPU reading is switched off ({MODE_ENV}=cpu).",
                fix=f"Unset {MODE_ENV} (or set it to auto) to read real GPUs, or to 'simulated' to see virtual ones.",
            )
        )
    try:
        return NvmlBackend(indices=indices, nvml=nvml)
    except NoGpuError as exc:
        if mode == "auto" and fallback == "simulated":
            return SimulatedBackend(simulate or _env_simulated_gpus(), seed=seed, step_s=step_s)
        return NoGpuBackend(exc.reason)


def course_mode() -> tuple[CourseMode, str]:
    """Which mode the course runs in here: ``("real", why)``, ``("simulated", why)``
    or ``("cpu", why)``."""
    mode = _env_mode()
    if mode == "simulated":
        n = _env_simulated_gpus()
        return "simulated", f"{MODE_ENV}=simulated: {n} virtual GPU(s), clearly labelled, no real GPU read"
    backend = open_backend(mode)
    try:
        if not isinstance(backend, NoGpuBackend):  # auto or real mode without fallback: NVML or nothing
            names = sorted({d.name for d in backend.devices()})
            return "real", f"{backend.device_count()} GPU(s) through NVML: {', '.join(names)}"
        if backend.reason.code == "cpu_mode":
            return "cpu", backend.reason.message
        # The reason's full text and fix belong to the doctor's driver check; repeating them here
        # printed the same paragraph several times in one report.
        return "cpu", (
            f"no usable NVIDIA GPU ({backend.reason.code}); `python -m course_utils doctor` says why and how to fix it"
        )
    finally:
        backend.close()


MODE_LABELS: dict[CourseMode, str] = {"real": "REAL GPU", "simulated": "SIMULATED GPU", "cpu": "CPU ONLY"}


def mode_banner(mode: CourseMode, why: str) -> str:
    """The one line every notebook prints for the course mode.

    In CPU-only mode, the notebooks that are about watching GPUs still show simulated GPUs as a
    stand-in; the banner says so, so that a "SIMULATED" table never contradicts "CPU ONLY".
    """
    if mode not in MODE_LABELS:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODE_LABELS)}")
    line = f"Course mode: {MODE_LABELS[mode]} - {why}."
    if mode == "cpu":
        line += (
            " GPU cells run on the CPU; where a notebook shows GPU readings, they come from "
            "simulated GPUs, labelled SIMULATED."
        )
    return line
