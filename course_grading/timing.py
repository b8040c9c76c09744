"""Per-cell time limits from the solution's own run time, and what grading a class costs.

    python -m course_grading.timing measure --out docs/results/solution_times.json
    python -m course_grading.timing estimate docs/results/solution_times.json

``measure`` runs each assignment's solution notebook (solutions/, hidden tests included) in a
scratch copy with nbclient, several times, records every cell's wall time, and proposes the
per-cell limit for grading: FACTOR times the slowest cell of the solution, at least FLOOR_S
seconds. It prints the line for nbgrader_config.py (``c.GradeSubmissions.cell_timeout``). It needs
only nbclient and the course: not the grading command.

``estimate`` turns the figures into the class-size table of docs/instructor.md: an honest
submission costs what the grading command measured per submission (docs/results/grading*.json),
a looping one at most one cell limit per graded part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = {"gpu_monitoring_dashboard": "gpu_dashboard", "multi_gpu_training": "multi_gpu_training"}
# One cell may take this many times the solution's slowest cell, on top of the load scaling below
# (which covers a busy machine). With 10, and 3 for the budget, a looping training submission cost
# 6x an honest one (79 s against 13 s); 3 and 2 bring it near 4x (tests/grading/test_pipeline_training.py).
FACTOR = 3
FLOOR_S = 5.0  # imports and first calls
SUBMISSION_FACTOR = 5  # the whole notebook: a hard limit per submission (--submission-timeout)
# All cells of a submission together: BUDGET_FACTOR times the solution's cells, plus one cell
# limit (so one looping part costs only that part). Measured on an idle CPU machine; at grading
# time both limits grow with the machine's load and on a GPU machine (scaled_limits).
BUDGET_FACTOR = 2
GPU_SCALE = 3  # an honest training submission: ~24 s on a GPU worker (CUDA, NCCL start-up), ~9 s on a CPU


def load_scale(sample_s: float = 0.05) -> float:
    """How much slower than on an idle machine this process runs now: the wall time a short busy
    loop takes over the CPU time it gets (2 when it gets half a core). Not the load average, which
    counts niced jobs that barely slow the grader down."""
    wall, cpu = time.perf_counter(), time.process_time()
    while time.process_time() - cpu < sample_s:
        pass
    return min(20.0, max(1.0, (time.perf_counter() - wall) / (time.process_time() - cpu)))


def budget_s(solution_s: float, cell_s: float, scale: float = 1.0) -> float:
    """All cells of one submission together: BUDGET_FACTOR x the solution's cells, plus one cell
    limit, at ``scale`` times the idle machine's pace."""
    return BUDGET_FACTOR * solution_s * scale + cell_s


def scaled_limits(limits: dict) -> tuple[int, int]:
    """(seconds per cell, seconds for all cells) for the submission about to be graded, from
    ``limits`` (grading.limits_for): the idle-machine figures times the slowdown now, and GPU_SCALE
    where the kernels get GPUs. The slowdown is at least what the run's own workers cause
    (``contention``): the first submissions start together, before their load shows in a sample.
    A cell limit the instructor gave (--cell-timeout) is kept as is."""
    scale = max(load_scale(), limits.get("contention", 1.0)) * (GPU_SCALE if limits.get("gpu") else 1)
    cell = limits["cell_s"] if limits.get("fixed_cell") else round(limits["cell_s"] * scale)
    return cell, round(budget_s(limits["solution_s"], cell, scale))


def _cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def run_solution(assignment: str, notebook: str) -> tuple[float, list[dict], float]:
    """Run the solution once in a scratch copy; (total seconds, one record per code cell, CPU
    seconds of the kernel and everything it started)."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix=f"timing-{assignment}-") as scratch:
        folder = Path(scratch) / assignment
        shutil.copytree(
            REPO / "solutions" / assignment,
            folder,
            ignore=shutil.ignore_patterns("work", "__pycache__", ".ipynb_checkpoints"),
        )
        nb = nbformat.read(folder / f"{notebook}.ipynb", as_version=4)
        children = os.times()  # the kernel and what it starts count here once reaped
        env_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        os.environ["PATH"] = env_path
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        started = time.perf_counter()
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}, record_timing=True
        ).execute()
        total = time.perf_counter() - started
        after = os.times()
    cpu = (after.children_user - children.children_user) + (after.children_system - children.children_system)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        cells.append(
            {
                "grade_id": meta.get("grade_id"),
                "test": bool(meta.get("grade") and not meta.get("solution")),
                "seconds": _cell_seconds(cell),
            }
        )
    return total, cells, cpu


def measure(runs: int) -> dict:
    record: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "factor": FACTOR,
        "floor_s": FLOOR_S,
        "assignments": {},
    }
    for assignment, notebook in ASSIGNMENTS.items():
        totals, slowest, cores = [], [], []
        per_cell: dict[str, list[float]] = {}
        for _ in range(runs):
            total, cells, cpu = run_solution(assignment, notebook)
            totals.append(total)
            cores.append(cpu / total)
            times = [c["seconds"] for c in cells if c["seconds"] is not None]
            slowest.append(max(times))
            for i, c in enumerate(cells):
                per_cell.setdefault(c["grade_id"] or f"cell {i}", []).append(c["seconds"] or 0.0)
        worst = max(slowest)
        record["assignments"][assignment] = {
            "runs": runs,
            "notebook_s": [round(t, 2) for t in totals],
            "slowest_cell_s": round(worst, 2),
            "cells_s": {k: round(statistics.median(v), 2) for k, v in per_cell.items()},
            "graded_parts": sum(1 for _ in cells if _["test"]),
            # cores the solution keeps busy on average (its CPU over its wall time), at least 1:
            # how many of the machine's cores each grading worker needs (grading.limits_for)
            "cores": round(max(1.0, statistics.median(cores)), 1),
            "cell_timeout_s": round(max(FLOOR_S, FACTOR * worst)),
            "solution_s": round(max(sum(c for c in (statistics.median(v) for v in per_cell.values())), 1.0), 1),
            "submission_timeout_s": round(max(60.0, SUBMISSION_FACTOR * max(totals))),
        }
    record["load_after"] = os.getloadavg()[0]
    return record


def config_line(record: dict) -> str:
    limits = {a: r["cell_timeout_s"] for a, r in record["assignments"].items()}
    honest = {a: r["solution_s"] for a, r in record["assignments"].items()}
    cores = {a: r["cores"] for a, r in record["assignments"].items()}
    return (
        f"c.GradeSubmissions.cell_timeout = {json.dumps(limits)}\n"
        f"c.GradeSubmissions.solution_seconds = {json.dumps(honest)}\n"
        f"c.GradeSubmissions.solution_cores = {json.dumps(cores)}"
    )


def looping_s(info: dict) -> float:
    """Worker seconds a submission whose every part loops can take on an idle machine: its cells
    share a budget (BUDGET_FACTOR x the solution's cells + one cell limit), under the hard cap."""
    return min(budget_s(info["solution_s"], info["cell_timeout_s"]), info["submission_timeout_s"])


def estimate(record: dict, per_submission_s: dict[str, dict[str, float]]) -> list[dict]:
    """Wall minutes to grade a class: honest submissions at the measured rate, and the worst case
    where every submission loops until its time budget is spent (spread over the workers; each
    also pays an honest submission's start-up, so the figure errs high)."""
    rows = []
    for machine, rates in per_submission_s.items():
        workers = rates["workers"]
        for assignment, info in record["assignments"].items():
            honest, loop = rates[assignment], looping_s(info)
            for students in (30, 100, 300):
                rows.append(
                    {
                        "machine": machine,
                        "assignment": assignment,
                        "students": students,
                        "honest_min": round(students * honest / 60, 1),
                        "all_looping_min": round(students * (honest + loop / workers) / 60, 1),
                        "one_looping_extra_min": round(loop / 60, 1),
                    }
                )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="run the solutions and propose per-cell limits")
    m.add_argument("--runs", type=int, default=2)
    m.add_argument("--out", type=Path)
    e = sub.add_parser("estimate", help="class-size table from a measure record")
    e.add_argument("record", type=Path)
    e.add_argument("--rates", type=Path, help="JSON {machine: {workers: N, ASSIGNMENT: s per submission}}")
    args = parser.parse_args(argv)
    if args.command == "measure":
        record = measure(args.runs)
        text = json.dumps(record, indent=1) + "\n"
        if args.out:
            args.out.write_text(text)
        print(text + config_line(record))
        return 0
    record = json.loads(args.record.read_text())
    rates = json.loads(args.rates.read_text()) if args.rates else DEFAULT_RATES
    for row in estimate(record, rates):
        print(row)
    return 0


# Seconds per submission measured by the grading command on the idle 2-core machine with 2
# workers, sandboxed (docs/results/grading.json, key idle_kernel_threads_2026_11_30). The GPU
# host row assumes 8 workers on its 16 cores (CPU-bound checks; the training runs gloo on CPU
# or NCCL on 2 GPUs); not measured.
DEFAULT_RATES = {
    "2-core CPU, 2 workers": {"workers": 2, "gpu_monitoring_dashboard": 1.24, "multi_gpu_training": 5.60},
    "one GPU host, 16 cores, 8 workers": {
        "workers": 8,
        "gpu_monitoring_dashboard": 1.24 * 2 / 8,
        "multi_gpu_training": 5.60 * 2 / 8,
    },
}

if __name__ == "__main__":
    sys.exit(main())
