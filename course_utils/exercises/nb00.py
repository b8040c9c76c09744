"""Notebook 00 (welcome): read the GPU state with NVML yourself, then read the doctor's report."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..diagnostics.lab import SimulatedNvml
from ..selfcheck import Feedback, first_failure
from ..units import MIB

__all__ = ["check_failed_checks", "check_read_gpus"]


class _RecordingNvml(SimulatedNvml):
    """A simulated NVML that remembers whether it was started and shut down."""

    def __init__(self, gpus: int, library_present: bool = True):
        super().__init__(gpus, "580.159.04", library_present)
        self.inits = self.shutdowns = 0
        self.used_mib = [1000 + 250 * i for i in range(gpus)]

    def nvmlInit(self):
        self.inits += 1
        super().nvmlInit()

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetMemoryInfo(self, h, version=None):
        from types import SimpleNamespace

        total = 143771 * MIB
        used = self.used_mib[h.index] * MIB
        return SimpleNamespace(used=used, total=total, free=total - used)


def _run(fn: Callable, nvml) -> tuple[object, BaseException | None]:
    try:
        return fn(nvml), None
    except BaseException as exc:  # the learner's code: report, never crash the notebook
        return None, exc


def check_read_gpus(read_gpus: Callable) -> Feedback:
    """``read_gpus(nvml)`` returns one dict per GPU with ``index``, ``name``, ``used_mib`` and
    ``total_mib``, shuts NVML down, and returns ``[]`` (not an exception) when NVML cannot start."""
    title = "Exercise 1: read the GPUs with NVML"
    if not callable(read_gpus):
        return Feedback(False, title, "`read_gpus` is not a function yet.", "Define `def read_gpus(nvml): ...`.")
    healthy = _RecordingNvml(gpus=2)
    result, error = _run(read_gpus, healthy)
    broken = _RecordingNvml(gpus=0, library_present=False)
    failed_result, failed_error = _run(read_gpus, broken)
    rows = result if isinstance(result, list) else []
    first = rows[0] if rows and isinstance(rows[0], dict) else {}
    keys = {"index", "name", "used_mib", "total_mib"}
    return first_failure(
        title,
        [
            (
                error is None,
                f"on a simulated 2-GPU machine it raised {type(error).__name__}: {error}",
                "Call nvml.nvmlInit() first, then nvmlDeviceGetCount() and nvmlDeviceGetHandleByIndex(i).",
            ),
            (result is not None, "it returned None.", "Build a list with one dict per GPU and return it."),
            (
                isinstance(result, list) and len(result) == 2,
                f"on a simulated machine with 2 GPUs it returned {type(result).__name__} of length "
                f"{len(result) if hasattr(result, '__len__') else '?'}.",
                "Loop over range(nvml.nvmlDeviceGetCount()).",
            ),
            (
                keys <= set(first),
                f"each GPU needs the keys {sorted(keys)}; the first has {sorted(first)}.",
                "Use the key names exactly as given.",
            ),
            (
                first.get("total_mib") in (143771, 143771.0),
                "total_mib is not the total memory in MiB.",
                "nvmlDeviceGetMemoryInfo(handle).total is in bytes; a MiB is 2**20 bytes.",
            ),
            (
                [r.get("used_mib") for r in rows] == [1000, 1250],
                "used_mib does not match what NVML reports for each GPU.",
                "Ask for the memory info of each GPU's own handle, and convert bytes to MiB.",
            ),
            (
                healthy.shutdowns >= 1,
                "NVML was started but never shut down.",
                "Call nvml.nvmlShutdown() when you are done (a try/finally keeps it even on errors).",
            ),
            (
                failed_error is None,
                f"when NVML cannot start it raised {type(failed_error).__name__}.",
                "Catch nvml.NVMLError around nvmlInit() and return an empty list (print why).",
            ),
            (
                failed_result == [],
                f"when NVML cannot start it returned {failed_result!r}.",
                "Return an empty list: no GPU is a normal answer on a laptop.",
            ),
        ],
        success="Right: init, count, a handle per index, memory info in bytes, shutdown; and no GPU is an "
        "answer, not a crash. This is what the course's NVML backend does for every reading.",
    )


def check_failed_checks(answer: Iterable[str] | None, checks) -> Feedback:
    """``answer``: the names of the checks that failed in the doctor's report above."""
    title = "Exercise 2: read the doctor's report"
    failed = {c.name for c in checks if c.status == "fail"}
    given = set(answer) if answer is not None and not isinstance(answer, str) else None
    return first_failure(
        title,
        [
            (answer is not None, "`failed_checks` is still None.", "Copy the names of the [FAIL] lines into a set."),
            (given is not None, "give a set of names, not one string.", 'Write {"name one", "name two"}.'),
            (
                given is None or not (given - failed),
                f"{len(given - failed) if given else 0} name(s) in your set did not fail.",
                "Only [FAIL] lines count: [warn], [info] and [skip] are not failures.",
            ),
            (
                given is None or not (failed - given),
                f"{len(failed - given) if given else 0} failed check(s) are missing.",
                "Read every line that starts with [FAIL]; the name is the text before the first colon.",
            ),
        ],
        success=f"Right: {len(failed)} check(s) failed here, each with the fix printed under it."
        if failed
        else "Right: nothing failed on this machine.",
    )
