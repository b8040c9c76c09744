"""Notebook 07 (data parallel): self-checks on the recorded H200 figures. Never gives the answer."""

from __future__ import annotations

import json
from pathlib import Path

from course_utils.selfcheck import Feedback, first_failure

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results" / "multi_gpu.json"


def recorded_rows() -> list[dict]:
    return json.loads(RESULTS.read_text())["runs"]


def _pick(model: str, mode: str, gpus: int, compile_: str = "none", bench: bool | None = None) -> dict:
    for r in recorded_rows():
        if (r["model"], r["mode"], r["gpus"], r["compile"]) == (model, mode, gpus, compile_) and (
            bench is None or r["cudnn_benchmark"] == bench
        ):
            return r
    raise LookupError(f"no recorded row for {model} {mode} x{gpus} compile={compile_} benchmark={bench}")


def _num(v):
    try:
        return None if v is None or isinstance(v, bool) else float(v)
    except (TypeError, ValueError):
        return None


def check_dp_speedup(speedup_2gpu, faster_than_one_gpu) -> Feedback:
    """Exercise 1: DataParallel on 2 GPUs (cudnn.benchmark off) against one GPU, eager ResNet-50."""
    title = "Exercise 1: DataParallel on 2 GPUs against one"
    single = _pick("resnet50", "single", 1)["img_per_s"]
    dp = _pick("resnet50", "dataparallel", 2, bench=False)["img_per_s"]
    truth = dp / single
    value = _num(speedup_2gpu)
    compiled = [
        r["img_per_s"]
        for r in recorded_rows()
        if r["model"] == "resnet50" and r["mode"] == "single" and r["compile"] != "none"
    ]
    steps = [
        (
            value is not None,
            "`speedup_2gpu` is not a number yet.",
            "Divide the DataParallel row's img/s by the single-GPU row's img/s.",
        ),
        (
            value is None or abs(value - 1 / truth) > 0.02,
            "That is the single GPU's img/s over DataParallel's.",
            "You divided the other way round: DataParallel's figure goes on top.",
        ),
        (
            value is None or value < 1.5 or abs(value - truth) < 0.02,
            "That looks like a speed-up above 1.5, which no DataParallel row reached.",
            "Did you divide the other way round, or take the DDP row?",
        ),
        (
            value is None or not any(abs(value - dp / c) < 0.02 for c in compiled),
            "You compared with a compiled single-GPU row.",
            "Compare like with like: the single-GPU row with compile 'none' (eager), as DataParallel ran eager.",
        ),
        (
            value is None or abs(value - truth) < 0.02,
            "The ratio is off.",
            "Use ResNet-50, DataParallel on 2 GPUs with cudnn.benchmark off, and the eager single-GPU row.",
        ),
        (
            isinstance(faster_than_one_gpu, bool),
            "`faster_than_one_gpu` must be True or False.",
            "Is your ratio above or below 1?",
        ),
        (
            faster_than_one_gpu == (truth > 1),
            "Your ratio and your True/False answer disagree.",
            "A ratio below 1 means slower.",
        ),
    ]
    return first_failure(
        title,
        steps,
        success="Right: two GPUs under DataParallel did fewer images per second "
        "than one GPU alone (the replicas also ran in float16, not the single run's bf16: "
        "see the deep-dive).",
    )


def efficiency(img_per_s: float, gpus: int, single_img_per_s: float) -> float:
    return img_per_s / (gpus * single_img_per_s)


def check_efficiency_function(fn, dp4_efficiency) -> Feedback:
    """Exercise 2: the learner's scaling-efficiency function, and DataParallel's on 4 GPUs."""
    title = "Exercise 2: scaling efficiency"
    cases = [(9000.0, 2, 4500.0, 1.0), (3000.0, 2, 3000.0, 0.5), (400.0, 4, 200.0, 0.5), (100.0, 1, 200.0, 0.5)]
    if not callable(fn):
        return Feedback(False, title, "`scaling_efficiency` is not a function.", "Keep the `def` line.")
    try:
        results = [fn(a, g, s) for a, g, s, _ in cases]
    except Exception as exc:  # the learner's code: report, never raise
        return Feedback(
            False,
            title,
            f"Your function raised {type(exc).__name__}: {exc}.",
            "It takes img/s, the number of GPUs and the single-GPU img/s.",
        )
    if any(_num(r) is None for r in results):
        return Feedback(False, title, "Your function does not return a number yet.", "Return the efficiency.")
    for (a, g, s, want), got in zip(cases, results, strict=True):
        if abs(float(got) - want) > 1e-6:
            return Feedback(
                False,
                title,
                f"For {a:g} img/s on {g} GPU(s) against {s:g} on one, your function gives {float(got):g}.",
                "Perfect scaling (N GPUs, N times the images) must give 1.0.",
            )
    row, single = _pick("resnet50", "dataparallel", 4, bench=False), _pick("resnet50", "single", 1)
    truth = efficiency(row["img_per_s"], 4, single["img_per_s"])
    value = _num(dp4_efficiency)
    return first_failure(
        title,
        [
            (value is not None, "`dp4_efficiency` is not a number yet.", "Call your function with the recorded row."),
            (
                value is None or value <= 1.0,
                "Above 1: more than perfect scaling is not what the figures say.",
                "Efficiency is a fraction of perfect scaling; is the single-GPU figure in the right place?",
            ),
            (
                value is None or abs(value - truth) < 0.01,
                "Not the recorded DataParallel 4-GPU efficiency.",
                "ResNet-50, DataParallel on 4 GPUs, cudnn.benchmark off, against the eager single-GPU row.",
            ),
        ],
        success="Right: 4 GPUs under DataParallel beat one GPU, but each GPU did less than a third of the work "
        "it does alone. DDP on the same 4 GPUs kept about 98%.",
    )
