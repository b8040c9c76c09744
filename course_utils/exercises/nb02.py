"""Notebook 02 (GPUs in Docker): ``--gpus`` values for goals, index remapping, shared memory,
and the break-and-fix lab for "GPU not detected"."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from ..containers import check_command, find_docker, parse_size
from ..containers.gpus import DaemonWouldReject, GpusParseError, driver_capabilities, parse_gpus_value, visible_devices
from ..diagnostics.doctor import FAIL
from ..diagnostics.lab import LAB_STEPS, Scenario, diagnose
from ..selfcheck import Feedback, first_failure
from ..units import GIB, MIB

__all__ = ["GOALS", "check_gpus_goals", "check_host_gpu", "check_lab", "check_shm"]

# goal -> (NVIDIA_VISIBLE_DEVICES wanted, capabilities wanted or None)
GOALS: dict[str, tuple[str, frozenset[str] | None]] = {
    "only GPU 2": ("2", None),
    "any two GPUs": ("0,1", None),
    "GPUs 0 and 3": ("0,3", None),
    "all GPUs, with CUDA and nvidia-smi only": ("all", frozenset({"compute", "utility"})),
}


def _gpus_value(command: str) -> tuple[str | None, str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return None, f"the shell cannot split it ({exc})"
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--gpus"]
    values += [a.split("=", 1)[1] for a in argv if a.startswith("--gpus=")]
    if len(values) != 1:
        return None, "it needs exactly one --gpus VALUE"
    return values[0], ""


def check_gpus_goals(answers: Mapping[str, str] | None) -> Feedback:
    """``answers``: goal -> a ``docker run ... --gpus VALUE ...`` command line, as typed in a shell."""
    title = "Exercise 1: --gpus for each goal"
    if not isinstance(answers, Mapping) or set(answers) != set(GOALS):
        return Feedback(
            False,
            title,
            "`answers` needs one command per goal, keyed by the goal's text.",
            "Keep the keys of GOALS and fill in each command string.",
        )
    for goal, (want_visible, want_caps) in GOALS.items():
        command = str(answers[goal] or "")
        value, problem = _gpus_value(command)
        if value is None:
            return Feedback(False, title, f"{goal!r}: {problem}.", "Write the whole docker run line, with --gpus.")
        try:
            request = parse_gpus_value(value)
            visible = visible_devices(request)
        except (GpusParseError, DaemonWouldReject) as exc:
            return Feedback(
                False,
                title,
                f"{goal!r}: docker refuses it: {exc}",
                "A value with commas must be one CSV field: double quotes inside single quotes.",
            )
        if visible != want_visible:
            return Feedback(
                False,
                title,
                f"{goal!r}: the container would get NVIDIA_VISIBLE_DEVICES={visible}.",
                "A bare number is a count of GPUs; a list of specific GPUs uses device=.",
            )
        caps = driver_capabilities(request)
        if want_caps is not None and set((caps or "").split(",")) != want_caps:
            return Feedback(
                False,
                title,
                f"{goal!r}: the capabilities would be {caps or 'the image default'}.",
                "CUDA is the `compute` capability; nvidia-smi and NVML are `utility`.",
            )
        if find_docker():
            client = check_command(command)
            if client.status != "accepted":
                return Feedback(
                    False,
                    title,
                    f"{goal!r}: the real docker client says {client.status}: {client.message}",
                    "Check the quoting against section 2.",
                )
    checked = " and the real docker client accepted every line" if find_docker() else ""
    return Feedback(True, title, f"Right: each value gives the GPUs you meant{checked}.")


def check_host_gpu(answer) -> Feedback:
    """Container started with --gpus '"device=1,3"', the process sets CUDA_VISIBLE_DEVICES=1:
    which *host* GPU does ``cuda:0`` use?"""
    title = "Exercise 2: which host GPU is cuda:0?"
    return first_failure(
        title,
        [
            (answer is not None, "`host_gpu` is still None.", "Give the host GPU's index as a number."),
            (
                isinstance(answer, int) and not isinstance(answer, bool),
                "give the index as an int.",
                "e.g. host_gpu = 5",
            ),
            (
                answer in (1, 3),
                f"host GPU {answer} is not even in this container.",
                "The container holds only the GPUs named in --gpus.",
            ),
            (
                answer != 1,
                "that is CUDA_VISIBLE_DEVICES read as a host index.",
                "Inside the container the GPUs are renumbered from 0 before CUDA_VISIBLE_DEVICES is applied.",
            ),
        ],
        success="Right: two renumberings. The toolkit shows host GPUs 1 and 3 as 0 and 1; "
        "CUDA_VISIBLE_DEVICES=1 picks the second of those and CUDA calls it cuda:0. "
        "NVML and nvidia-smi apply only the first renumbering.",
    )


BATCH: dict[str, Any] = {
    "batch_size": 64,
    "shape": (3, 224, 224),
    "bytes_per_value": 4,
    "num_workers": 8,
    "prefetch_factor": 2,
}


def check_shm(needed_mib, shm_size: str | None) -> Feedback:
    """``needed_mib``: /dev/shm the DataLoader's queued batches need; ``shm_size``: a --shm-size value."""
    title = "Exercise 3: shared memory for DataLoader workers"
    b = BATCH
    per_batch = b["batch_size"] * b["shape"][0] * b["shape"][1] * b["shape"][2] * b["bytes_per_value"]
    expected = per_batch * b["num_workers"] * b["prefetch_factor"] / MIB
    try:
        size = parse_size(str(shm_size)) if shm_size else None
    except (ValueError, TypeError):
        size = -1
    number = isinstance(needed_mib, int | float) and not isinstance(needed_mib, bool)
    return first_failure(
        title,
        [
            (needed_mib is not None, "`needed_mib` is still None.", "Compute it from BATCH."),
            (number, "give `needed_mib` as a number.", "A float is fine."),
            (
                number and abs(needed_mib - expected) <= 0.02 * expected,
                f"{needed_mib} MiB is not what the queued batches occupy." if number else "",
                "Bytes per batch = batch_size x channels x height x width x bytes per value; every worker "
                "keeps prefetch_factor batches queued; a MiB is 2**20 bytes.",
            ),
            (shm_size is not None, "`shm_size` is still None.", "Write a --shm-size value such as '512m'."),
            (size != -1, f"docker cannot read {shm_size!r} as a size.", "Use a number with b, k, m or g."),
            (
                size is not None and size >= expected * MIB,
                f"{shm_size} is smaller than the queued batches.",
                "Round up, with room for the rest (NCCL uses /dev/shm too).",
            ),
            (
                size is not None and size <= 64 * GIB,
                f"{shm_size} is more than this job can use.",
                "Ask for what the job needs plus headroom; /dev/shm counts against the container's memory.",
            ),
        ],
        success="Right: Docker's default of 64 MiB would not hold these batches; workers would die with "
        "'bus error'. --ipc=host is the other way out.",
    )


def check_lab(step: int, fixed: Scenario | None) -> Feedback:
    """Lab step ``step``: ``fixed`` is the learner's corrected scenario."""
    title = f"Lab step {step}"
    if step not in LAB_STEPS:
        raise ValueError(f"there is no lab step {step}: the steps are {sorted(LAB_STEPS)}")
    broken = LAB_STEPS[step]
    if fixed is None:
        return Feedback(False, title, "your fix is still None.", f"Start from lab.step({step}, ...) with one change.")
    if not isinstance(fixed, Scenario):
        return Feedback(
            False, title, "give a Scenario (lab.step(...) returns one).", f"fix{step} = lab.step({step}, ...)"
        )
    if fixed == broken:
        return Feedback(
            False, title, "this is still the broken setup.", "Change one argument, as the doctor's fix says."
        )
    if step == 5 and fixed.host_driver != broken.host_driver:
        return Feedback(
            False,
            title,
            "you upgraded the host's driver: in this scenario you cannot.",
            "Change what is in your image instead: which CUDA build of the framework it installs.",
        )
    failed = [c for c in diagnose(fixed) if c.status == FAIL]
    if failed:
        names = ", ".join(c.name for c in failed)
        return Feedback(
            False,
            title,
            f"the doctor still reports {len(failed)} failure(s): {names}.",
            "Run lab_report on your fix and read the fix line under each [FAIL].",
        )
    checks = {c.name: c for c in diagnose(fixed)}
    torch_ok = checks["PyTorch sees CUDA"].status == "pass"
    return first_failure(
        title,
        [
            (torch_ok, "nothing fails, but PyTorch still sees no GPU.", "Read the PyTorch line of the report."),
        ],
        success="Fixed: the doctor reports no failure and PyTorch sees the GPUs (simulated host).",
    )
