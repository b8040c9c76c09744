"""Notebook 05 (TensorFlow memory): the learner calls tf.config themselves, then meets the "too late" error."""

from __future__ import annotations

from ..selfcheck import Feedback, first_failure

__all__ = ["check_logical_cpus", "check_memory_choice", "check_too_late"]


def check_logical_cpus(tf) -> Feedback:
    """Exercise 1: the first physical CPU split into two logical devices, before TensorFlow starts.

    Reads the configuration with ``get_logical_device_configuration``, which does not start
    TensorFlow, so a learner who has not done it yet can still do it after this check.
    """
    title = "Exercise 1: two logical CPUs"
    if tf is None:
        return Feedback(False, title, "TensorFlow is not installed here.", "pip install tensorflow-cpu")
    cpu = tf.config.list_physical_devices("CPU")[0]
    config = tf.config.get_logical_device_configuration(cpu)
    return first_failure(
        title,
        [
            (
                config is not None,
                "the CPU has no logical device configuration yet.",
                "Call tf.config.set_logical_device_configuration(cpu, [...]) with a list of "
                "tf.config.LogicalDeviceConfiguration().",
            ),
            (
                config is not None and len(config) == 2,
                f"you configured {len(config or [])} logical device(s).",
                "One LogicalDeviceConfiguration per logical device you want.",
            ),
            (
                config is not None and all(getattr(c, "memory_limit", None) is None for c in config),
                "a CPU logical device takes no memory_limit.",
                "memory_limit is for GPUs; leave it out here.",
            ),
        ],
        success="Right: once TensorFlow starts, list_logical_devices('CPU') will show CPU:0 and CPU:1. On a "
        "GPU the same call with LogicalDeviceConfiguration(memory_limit=MiB) caps TensorFlow on it.",
    )


def check_too_late(error) -> Feedback:
    """Exercise 2: the exception TensorFlow raises when a device setting comes after start-up."""
    title = "Exercise 2: catch the 'too late' error"
    message = str(error or "")
    return first_failure(
        title,
        [
            (
                error is not None,
                "`too_late` is still None: nothing was caught.",
                "Call a tf.config setter inside try/except and keep the exception (except ... as exc: too_late = exc).",
            ),
            (
                isinstance(error, BaseException),
                f"`too_late` holds a {type(error).__name__}, not an exception.",
                "Store the exception object itself.",
            ),
            (
                isinstance(error, RuntimeError),
                f"TensorFlow raised {type(error).__name__} here, not the 'too late' error.",
                "Use a setter that would be legal before start-up, on a device that exists (the CPU).",
            ),
            (
                "initialized" in message or "initialised" in message,
                "that RuntimeError is not about TensorFlow having started.",
                "Run the cell after TensorFlow has run an op.",
            ),
        ],
        success="Right: TensorFlow fixes its devices when it starts; after that every setter raises this. "
        "The tutorial's `except RuntimeError as e: print(e)` hides it and carries on without your setting.",
    )


def check_memory_choice(choice: dict | None) -> Feedback:
    """Exercise 3: a shared notebook server: growth or limit? And where to set it?"""
    title = "Exercise 3: growth or a limit, and where"
    choice = choice if isinstance(choice, dict) else {}
    mode = str(choice.get("setting", "")).lower()
    where = str(choice.get("where", "")).lower()
    return first_failure(
        title,
        [
            (bool(choice), "`choice` is still empty.", 'Fill in {"setting": ..., "where": ...}.'),
            (mode in ("growth", "limit", "both"), "setting must be 'growth', 'limit' or 'both'.", "One word."),
            (mode != "both", "TensorFlow does not combine them on one GPU.", "Pick one (see the clash above)."),
            (
                mode == "growth",
                "a fixed limit reserves that much up front for each notebook, used or not.",
                "Which one lets each notebook take only what it uses?",
            ),
            (
                where in ("env", "environment", "dockerfile", "docker"),
                f"{where!r}: a Python call works only if every notebook makes it first, before any op.",
                "Set it once for every process in the container, outside the program.",
            ),
        ],
        success="Right: TF_FORCE_GPU_ALLOW_GROWTH=true in the image or with -e. It is cooperative: it limits "
        "TensorFlow's own greed, nobody else's.",
    )
