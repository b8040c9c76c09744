"""TensorFlow GPU memory: grow as needed *or* a fixed logical-device limit, set before the GPU starts.

By default TensorFlow reserves nearly all memory of every visible GPU when it
initialises them, which starves any other process (another notebook, PyTorch in
the same kernel). Two ways out, and only one per process:

* memory growth (``tf.config.experimental.set_memory_growth`` or the environment
  variable ``TF_FORCE_GPU_ALLOW_GROWTH=true``): start small, grow as needed; TF
  never gives memory back while the process lives;
* a logical device with ``memory_limit`` (``tf.config.set_logical_device_configuration``):
  a fixed cap in MiB.

Both are read once, when TensorFlow initialises its devices (the first op, tensor
or ``list_logical_devices`` call). TensorFlow itself is inconsistent about the
clash: setting growth on a GPU that already has a logical configuration raises,
but setting a logical configuration after growth silently drops growth for every
GPU. This module refuses both orders and says why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ENV_GROWTH = "TF_FORCE_GPU_ALLOW_GROWTH"

_RESTART = (
    "Restart the Python process (in Jupyter: Kernel > Restart) and run this configuration first, before "
    "any TensorFlow op, tensor, model or tf.config.list_logical_devices() call."
)
_ENV_HINT = (
    f" For growth there is also the environment variable, read when the GPU starts: {ENV_GROWTH}=true "
    f"(docker run -e {ENV_GROWTH}=true)."
)


class TensorFlowMemoryError(RuntimeError):
    """A TensorFlow memory setting that cannot work as asked; the message says what to do."""


class TfSettingsClash(TensorFlowMemoryError, ValueError):
    """Memory growth and a logical-device memory limit were both asked for."""


class TfTooLate(TensorFlowMemoryError):
    """TensorFlow already initialised its devices, so the setting can no longer change."""


@dataclass
class TfMemoryConfig:
    mode: str  # "growth", "limit" or "logical_cpus"
    applied: bool
    devices: list[str] = field(default_factory=list)
    limit_mb: int | None = None
    note: str = ""

    def __str__(self) -> str:
        if not self.applied:
            return f"TensorFlow memory {self.mode}: not applied; {self.note}"
        what = {
            "growth": "memory growth on",
            "limit": f"a {self.limit_mb} MiB logical device on",
            "logical_cpus": f"{len(self.devices)} logical CPU devices from",
        }[self.mode]
        text = f"TensorFlow: {what} {', '.join(self.devices)}"
        return text + (f". {self.note}" if self.note else "")


def _tf():
    import tensorflow as tf

    return tf


def tf_initialised() -> bool:
    """Whether TensorFlow has initialised its devices (after which device settings are frozen)."""
    try:
        from tensorflow.python.eager import context
    except ImportError:  # layout changed: rely on TensorFlow's own RuntimeError instead
        return False
    return getattr(context.context(), "_context_handle", None) is not None


def _env_growth(env: Mapping[str, str]) -> bool:
    return env.get(ENV_GROWTH, "").strip().lower() == "true"


def _too_late(what: str, exc: Exception | None = None, growth: bool = False) -> TfTooLate:
    said = f" TensorFlow said: {exc}." if exc else ""
    return TfTooLate(
        f"Cannot set {what}: TensorFlow has already initialised its devices in this process, and "
        f"device settings are fixed from then on.{said} {_RESTART}{_ENV_HINT if growth else ''}"
    )


def _select(gpus, wanted: Sequence[int] | None):
    if wanted is None:
        return list(gpus)
    chosen = []
    for i in wanted:
        if not 0 <= i < len(gpus):
            raise ValueError(f"there is no GPU {i}: TensorFlow sees {len(gpus)} GPU(s)")
        chosen.append(gpus[i])
    return chosen


def configure_tensorflow_memory(
    growth: bool = False,
    limit_mb: int | None = None,
    gpus: Sequence[int] | None = None,
    env: Mapping[str, str] | None = None,
) -> TfMemoryConfig:
    """Either ``growth=True`` or ``limit_mb=N`` (one logical device of N MiB per GPU), never both.

    ``gpus``: indices of the GPUs to configure (default: all). Must run before
    TensorFlow initialises its devices; otherwise raises :class:`TfTooLate`.
    On a machine where TensorFlow sees no GPU nothing is set and the result says so.
    """
    env = os.environ if env is None else env
    if growth and limit_mb is not None:
        raise TfSettingsClash(
            "Choose memory growth OR a memory limit, not both. Growth lets TensorFlow take memory as it needs "
            "it (and never give it back); a logical device with memory_limit caps it at a fixed size. "
            "TensorFlow does not combine them on one GPU: set_memory_growth raises once a logical device is "
            "configured, and a logical device set after growth silently turns growth off for every GPU."
        )
    if not growth and limit_mb is None:
        raise ValueError("nothing to set: pass growth=True or limit_mb=<MiB>")
    if limit_mb is not None:
        if isinstance(limit_mb, bool) or not isinstance(limit_mb, int) or limit_mb < 1:
            raise ValueError(f"limit_mb must be a whole number of MiB >= 1, got {limit_mb!r}")
        if _env_growth(env):
            raise TfSettingsClash(
                f"{ENV_GROWTH}=true is set in the environment, which turns memory growth on for every GPU, and a "
                f"limit of {limit_mb} MiB was asked for. Choose one: unset {ENV_GROWTH} to use the limit, or "
                "keep it and drop the limit."
            )
    tf = _tf()
    found = tf.config.list_physical_devices("GPU")
    mode = "growth" if growth else "limit"
    if not found:
        return TfMemoryConfig(
            mode,
            applied=False,
            limit_mb=limit_mb,
            note="TensorFlow sees no GPU here (CPU build or no driver); on a GPU this would "
            + ("let memory grow as needed" if growth else f"cap each GPU at {limit_mb} MiB"),
        )
    chosen = _select(found, gpus)
    for gpu in chosen:
        if growth and tf.config.get_logical_device_configuration(gpu):
            raise TfSettingsClash(
                f"{gpu.name} already has a logical device configuration (a memory limit); "
                "memory growth cannot be added to it. Choose one, in a fresh process."
            )
        if not growth and tf.config.experimental.get_memory_growth(gpu):
            raise TfSettingsClash(
                f"memory growth is already on for {gpu.name}; a logical device limit would "
                "silently turn growth off for every GPU. Choose one, in a fresh process."
            )
    try:
        for gpu in chosen:
            if growth:
                tf.config.experimental.set_memory_growth(gpu, True)
            else:
                tf.config.set_logical_device_configuration(
                    gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit_mb)]
                )
    except RuntimeError as exc:
        if "after being initialized" in str(exc):
            raise _too_late("memory growth" if growth else f"a {limit_mb} MiB limit", exc, growth) from None
        raise
    note = "TensorFlow keeps what it grows to until the process ends" if growth else ""
    return TfMemoryConfig(mode, applied=True, devices=[g.name for g in chosen], limit_mb=limit_mb, note=note)


def configure_logical_cpus(n: int) -> TfMemoryConfig:
    """Split the CPU into ``n`` logical devices (to try ``tf.distribute`` strategies without GPUs).

    The same rule as the GPU settings applies, so it also shows the "too late"
    error on any machine: call it after TensorFlow has started and it raises
    :class:`TfTooLate`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number of logical CPUs >= 1, got {n!r}")
    tf = _tf()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as exc:
        if "after being initialized" in str(exc):
            raise _too_late(f"{n} logical CPU devices", exc) from None
        raise
    return TfMemoryConfig("logical_cpus", applied=True, devices=[f"CPU:{i}" for i in range(n)])
