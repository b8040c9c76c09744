"""Notebook 03 (GPU memory limits): what `-pl` limits, which sharing mechanism fits, enforced or not."""

from __future__ import annotations

from collections.abc import Mapping

from ..selfcheck import Feedback, first_failure

__all__ = ["MECHANISMS", "SCENARIOS", "check_enforcement", "check_pl_prediction", "check_sharing_choice"]


def check_pl_prediction(quantity: str | None, unit: str | None, scope: str | None) -> Feedback:
    """What does ``nvidia-smi -pl 150`` limit, in which unit, and for whom?"""
    title = "Exercise 1: predict what `nvidia-smi -pl 150` limits"
    q, u, s = (str(x or "").strip().lower() for x in (quantity, unit, scope))
    return first_failure(
        title,
        [
            (bool(q and u and s), "fill in all three: quantity, unit and scope.", "Each is one word."),
            (
                q != "memory",
                "that is what the tutorial's heading suggests, and it is wrong.",
                "Read `nvidia-smi -h` for -pl (or the reading in the cell above: two different settings).",
            ),
            (q == "power", f"{quantity!r} is not what -pl sets.", "The letters stand for the setting's name."),
            (u in ("w", "watt", "watts"), f"{unit!r} is not the unit of that setting.", "The SI unit of power."),
            (
                s in ("gpu", "machine", "host", "everyone", "all"),
                f"{scope!r}: it is wider than that.",
                "A driver setting on the host: does it know which container or user is running?",
            ),
        ],
        success="Right: a power cap in watts for the whole GPU (root on the host, every user, until reset). "
        "It limits no memory, and no cell of this course runs it.",
    )


SCENARIOS = {
    "two untrusted teams each need a guaranteed, isolated 40 GB slice of one H100": "mig",
    "eight small inference processes of one service should run concurrently on a V100": "mps",
    "students take turns running notebooks on one shared T4; isolation is not needed": "time-slicing",
    "a Kubernetes node with A100s must give pods hardware fault isolation": "mig",
}
_HINTS = {
    "mig": "Isolation of memory and faults in hardware needs the GPU to be split; only some GPUs can.",
    "mps": "Concurrent kernels from several processes of one user, on a GPU without MIG.",
    "time-slicing": "The default: processes take turns on the whole GPU, nothing to set up, no isolation.",
}


def check_sharing_choice(choices: Mapping[str, str] | None) -> Feedback:
    title = "Exercise 2: MIG, MPS or time-slicing?"
    if not isinstance(choices, Mapping) or set(choices) != set(SCENARIOS):
        return Feedback(
            False,
            title,
            "`choices` needs one answer per scenario, keyed by the scenario text.",
            "Keep the keys of SCENARIOS.",
        )
    for scenario, right in SCENARIOS.items():
        given = str(choices[scenario] or "").strip().lower().replace("_", "-").replace(" ", "-")
        if given not in _HINTS:
            return Feedback(False, title, f"{scenario!r}: answer 'mig', 'mps' or 'time-slicing'.", "One of three.")
        if given != right:
            return Feedback(False, title, f"{scenario!r}: {given} does not fit.", _HINTS[right])
    return Feedback(
        True,
        title,
        "Right. MIG needs A100/A30/H100/H200-class GPUs; MPS shares one GPU "
        "concurrently (faults are shared); time-slicing only takes turns.",
    )


# mechanism -> is it enforced against a tenant who controls their own process and environment?
MECHANISMS = {
    "MIG instance": True,
    "MPS v3 memory partitioning (dmem.max, driver r615+)": True,
    "MPS CUDA_MPS_PINNED_DEVICE_MEM_LIMIT set in the tenant's environment": False,
    "TensorFlow memory_limit": False,
    "PyTorch set_per_process_memory_fraction": False,
    "Docker's --memory flag": False,
}


def check_enforcement(answers: Mapping[str, bool] | None) -> Feedback:
    title = "Exercise 3: enforced, or cooperative?"
    if not isinstance(answers, Mapping) or set(answers) != set(MECHANISMS):
        return Feedback(
            False,
            title,
            "`enforced` needs True/False for each mechanism, keyed as in MECHANISMS.",
            "Keep the keys of MECHANISMS.",
        )
    if any(not isinstance(v, bool) for v in answers.values()):
        return Feedback(False, title, "some answers are not True or False yet.", "Replace each None with a bool.")
    wrong = [m for m, right in MECHANISMS.items() if answers[m] is not right]
    if not wrong:
        return Feedback(
            True,
            title,
            "Right: only MIG and MPS v3 partitioning hold against a tenant who "
            "controls their own environment; docker --memory limits host RAM, not GPU memory.",
        )
    first = wrong[0]
    hint = (
        "Who sets it, and could the tenant's own code or environment change it?"
        if "docker" not in first.lower()
        else "What kind of memory does docker's --memory count?"
    )
    return Feedback(False, title, f"{len(wrong)} answer(s) are not right yet; look again at {first!r}.", hint)
