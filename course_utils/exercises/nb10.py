"""Notebook 10 (common issues): a retry loop that loses no sample, and "GPU not detected" diagnosed
from the doctor's report on simulated failures. Never gives the answer."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import torch

from course_utils.selfcheck import Feedback
from course_utils.telemetry import nvml
from course_utils.telemetry.errors import ERR_LIBRARY_NOT_FOUND, ERR_UNKNOWN

# -- exercise 1: the learner's own retry loop ----------------------------------------


def _oom_model(fits: int, calls: list):
    def model(x):
        calls.append(x.shape[0])
        if x.shape[0] > fits:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (simulated): {x.shape[0]} samples do not fit")
        return x * 2 + 1

    return model


def check_retry_loop(fn) -> Feedback:
    """``fn(model, batch)`` must return the model's output for every sample, in order, halving on OOM."""
    title = "Exercise 1: your retry loop"
    if not callable(fn):
        return Feedback(False, title, "`forward_all` is not a function.", "Keep the `def` line.")
    for n, fits in ((64, 32), (100, 32), (7, 2), (5, 8)):
        batch = torch.arange(float(n)).reshape(n, 1)
        calls: list[int] = []
        try:
            out = fn(_oom_model(fits, calls), batch)
        except torch.cuda.OutOfMemoryError:
            return Feedback(
                False,
                title,
                f"With {n} samples and room for {fits}, an OutOfMemoryError escaped.",
                "Catch torch.cuda.OutOfMemoryError, halve the chunk, and try the same samples again.",
            )
        except Exception as exc:
            return Feedback(
                False,
                title,
                f"Your function raised {type(exc).__name__}: {exc}.",
                "Run it on a small batch and read the traceback.",
            )
        if out is None:
            return Feedback(False, title, "Your function returns None.", "Return the outputs of all samples.")
        if not isinstance(out, torch.Tensor) or out.shape[0] != n:
            got = getattr(out, "shape", None)
            return Feedback(
                False,
                title,
                f"{n} samples in, {got[0] if got else '?'} rows out.",
                "Every sample must come out once: keep going after the first chunk that fits.",
            )
        if not torch.equal(out, batch * 2 + 1):
            return Feedback(
                False,
                title,
                f"With {n} samples the rows are not the model's outputs in order.",
                "Concatenate the chunks' outputs in the order of the samples.",
            )
        if max(calls) > fits and calls.count(max(calls)) > 1:
            return Feedback(
                False,
                title,
                "Your loop retried a size that had already failed.",
                "After an OOM, remember the smaller chunk size for the rest of the batch.",
            )
    calls = []
    try:
        fn(_oom_model(0, calls), torch.zeros(4, 1))
        return Feedback(
            False,
            title,
            "When not even one sample fits, your function returned instead of raising.",
            "With a chunk of 1 still failing, let the error propagate (or raise your own).",
        )
    except torch.cuda.OutOfMemoryError:
        pass
    except Exception:  # a clear error of their own is fine too
        pass
    if len(calls) > 10:
        return Feedback(False, title, "When nothing fits, your loop kept trying.", "Stop once a chunk of 1 fails.")

    def bad_model(x):
        raise ValueError("a bug, not a memory problem")

    try:
        fn(bad_model, torch.zeros(4, 1))
        return Feedback(
            False,
            title,
            "A ValueError from the model disappeared.",
            "Catch only torch.cuda.OutOfMemoryError: other errors are bugs to see.",
        )
    except ValueError:
        pass
    except Exception:
        return Feedback(
            False,
            title,
            "A ValueError from the model came out as another error.",
            "Catch only torch.cuda.OutOfMemoryError.",
        )
    return Feedback(
        True,
        title,
        "Right: every sample processed once, in order, with smaller chunks after an OOM; "
        "other errors still surface. That is what forward_in_chunks does (below).",
    )


# -- exercise 2: "GPU not detected", from the doctor's report ----------------------------

FIXES = {
    "a": "start the container with GPUs: `--gpus all` (or `--device nvidia.com/gpu=all` with CDI)",
    "b": "add the `utility` driver capability: NVIDIA_DRIVER_CAPABILITIES=compute,utility",
    "c": "restart the container (its device access was lost after `systemctl daemon-reload`)",
    "d": "remove NVIDIA_VISIBLE_DEVICES=void from the image or the command, and choose GPUs with --gpus",
}
SCENARIOS = ("A", "B", "C", "D")
_TRUTH = {"A": "a", "B": "b", "C": "c", "D": "d"}  # scenario -> fix; never shown to the learner
_CLUE = {
    "A": "No device files and no NVIDIA_* variables at all: what did `docker run` leave out?",
    "B": "The variables line names the capabilities. Which one mounts libnvidia-ml and nvidia-smi?",
    "C": "Device files and variables look right, yet nvidia-smi fails with an NVML 'Unknown Error'.",
    "D": "Read the value of NVIDIA_VISIBLE_DEVICES in the variables line.",
}


class _FailingNvml:
    """An NVML whose ``nvmlInit`` fails with ``code``, raising the real binding's exception."""

    def __init__(self, code: int):
        self.code = code
        self.NVMLError = nvml.error_class()

    def nvmlInit(self):
        raise nvml.nvml_error(self.code)


def _root(base: Path, dev: tuple[str, ...]) -> Path:
    (base / "dev").mkdir(parents=True)
    for name in dev:
        (base / "dev" / name).touch()
    (base / ".dockerenv").touch()
    (base / "proc/1").mkdir(parents=True)
    (base / "proc/1/cgroup").write_text("0::/system.slice/docker-0123abcd.scope\n")
    return base


def _fake_smi(folder: Path) -> str:
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\necho 'Failed to initialize NVML: Unknown Error'\nexit 255\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def simulated_report(scenario: str) -> str:
    """The doctor's report for a container with one failure injected (SIMULATED: fake /dev, env and NVML)."""
    from course_utils.diagnostics.doctor import Context, format_report, run_checks

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    gpu_dev = ("nvidia0", "nvidiactl", "nvidia-uvm")
    dev: tuple[str, ...]
    with tempfile.TemporaryDirectory(prefix=f"doctor-{scenario}-") as tmp:
        base = Path(tmp)
        if scenario == "A":
            env, dev, code, smi = {}, (), ERR_LIBRARY_NOT_FOUND, None
        elif scenario == "B":
            env = {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute"}
            dev, code, smi = gpu_dev, ERR_LIBRARY_NOT_FOUND, None
        elif scenario == "C":
            env = {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}
            dev, code = gpu_dev, ERR_UNKNOWN
            smi = _fake_smi(base)
        else:
            env = {"NVIDIA_VISIBLE_DEVICES": "void", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}
            dev, code, smi = (), ERR_LIBRARY_NOT_FOUND, None
        ctx = Context(
            env=env,
            root=_root(base / "root", dev),
            nvml_loader=lambda: _FailingNvml(code),
            which=lambda exe: smi if exe == "nvidia-smi" else None,
            skip_frameworks=True,
            probe=lambda code: {},
        )
        report = format_report(run_checks(ctx))
    keep = [ln for ln in report.splitlines() if "NVML Python binding" not in ln]
    return (
        f"SIMULATED failure {scenario} (fake /dev, environment and NVML; nothing on this machine changed)\n"
        + "\n".join(keep)
    )


def check_diagnosis(diagnosis) -> Feedback:
    title = "Exercise 2: diagnose from the doctor's report"
    if not isinstance(diagnosis, dict):
        return Feedback(False, title, "`diagnosis` must be a dict.", "Keep the dict given in the cell.")
    missing = [s for s in SCENARIOS if diagnosis.get(s) is None]
    if missing:
        return Feedback(
            False,
            title,
            f"No fix chosen yet for: {', '.join(missing)}.",
            f"Give each scenario one letter of {sorted(FIXES)}.",
        )
    for s in SCENARIOS:
        choice = str(diagnosis[s]).strip().lower()
        if choice not in FIXES:
            return Feedback(False, title, f"{s}: {diagnosis[s]!r} is not one of the fixes.", f"Use {sorted(FIXES)}.")
        if choice != _TRUTH[s]:
            return Feedback(False, title, f"Scenario {s} is not right yet.", _CLUE[s])
    return Feedback(
        True,
        title,
        "Right: the doctor's failed lines point at the fix each time. On a real host, "
        "notebook 02's break-and-fix lab makes these failures for real.",
    )
