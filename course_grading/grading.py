"""The instructor workflow: a folder of submissions in, gradebook, CSV, feedback and timing out."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from . import course, journal, layout, merge, report, runner, sandbox
from .worker import quiet_nbgrader

DEFAULT_SUBMISSION_TIMEOUT = 900.0
UNSAFE_WARNING = (
    "WARNING: --unsafe-no-sandbox: submissions run as you, with your files, environment and network. "
    "A hostile one can read the solutions and other submissions, change any grade or the gradebook, "
    "and leave processes behind. Use it only for code you trust."
)


def cell_timeout(config, assignment: str, override: float | None) -> int:
    if override is not None:
        if not override >= 1:
            raise ValueError(f"a cell timeout of {override} s is too short: give at least 1 s")
        return max(1, round(override))
    per_assignment = config.GradeSubmissions.get("cell_timeout", {}) if "GradeSubmissions" in config else {}
    return int(per_assignment.get(assignment) or config.Execute.get("timeout", 30))


def limits_for(config, assignment: str, cell_timeout_s: int, override: bool, gpus, workers: int = 1) -> dict | None:
    """What the workers scale into each submission's time limits (timing.scaled_limits): the
    cell limit, the solution's own cell time (``c.GradeSubmissions.solution_seconds``, measured by
    ``python -m course_grading.timing measure``) and the slowdown this run's own workers cause:
    ``workers`` submissions at once, each keeping ``c.GradeSubmissions.solution_cores`` cores busy
    as the solution did, on this machine's cores. None where no solution time is configured: the
    flat cell limit only."""
    section = config.GradeSubmissions if "GradeSubmissions" in config else {}
    honest = section.get("solution_seconds", {}).get(assignment)
    if not honest:
        return None
    cores = float(section.get("solution_cores", {}).get(assignment, 1.0))
    return {
        "cell_s": cell_timeout_s,
        "solution_s": float(honest),
        "fixed_cell": override,
        "gpu": bool(gpus),
        "contention": round(max(1.0, workers * cores / (os.cpu_count() or 1)), 2),
    }


def grade_folder(
    course_dir: Path,
    assignment: str,
    submissions: Path,
    *,
    workers: int | None = None,
    out: Path | None = None,
    students: list[str] | None = None,
    feedback: bool = True,
    cell_timeout_s: float | None = None,
    submission_timeout_s: float = DEFAULT_SUBMISSION_TIMEOUT,
    unsafe: bool = False,
    gpus: str | None = None,
    feedback_detail: str = "results",
    resume: bool = False,
    memory_mb: int = 6144,
    disk_mb: int = 1024,
    quiet: bool = False,
) -> dict:
    """Autograde every submission in ``submissions`` into the course at ``course_dir``.

    Returns the run's record (also written to ``out/report.json``, next to ``out/grades.csv``).
    """
    started = time.perf_counter()
    if unsafe:
        print(UNSAFE_WARNING, flush=True)
    else:
        sandbox.check_available()  # refuses, saying why, before anything runs
    granted = sandbox.parse_gpus(gpus)
    course.prepare_environment()
    quiet_nbgrader()
    course_dir = Path(course_dir).resolve()
    config = course.load_config(course_dir)
    workers = workers or os.cpu_count() or 1
    out = Path(out) if out else course_dir / "grading-reports" / assignment
    timeout = cell_timeout(config, assignment, cell_timeout_s)
    done_before = journal.load(out) if resume else {}
    with course.exclusive(config), tempfile.TemporaryDirectory(prefix="course_grading-") as scratch:
        info = course.register_assignment(config, assignment)
        template = Path(scratch) / "template.db"
        shutil.copy2(course.db_path(config), template)  # each worker grades into its own copy
        found = layout.discover(Path(submissions), assignment, students, unpack_to=Path(scratch) / "unpacked")
        tasks, rows, results = [], [], []
        digests = {}
        for sub in found:
            problem = layout.bad_student_id(sub.student)
            if problem:  # nbgrader cannot store it; nothing is written for it
                rows.append({"student": sub.student, "status": "error", "notes": [problem], "seconds": 0.0})
                continue
            digests[sub.student] = journal.digest(sub.folder)
            kept = done_before.get(sub.student)
            if kept and kept.get("digest") == digests[sub.student]:
                rows.append(
                    dict(
                        kept["row"],
                        notes=[
                            *kept["row"].get("notes", []),
                            "kept from the interrupted run (--resume): this submission did not change",
                        ],
                    )
                )
                continue
            tasks.append(
                {
                    "student": sub.student,
                    "folder": str(sub.folder) if sub.folder else None,
                    "problems": sub.problems,
                    "notebooks": info.notebooks,
                }
            )
        busy = min(workers, max(1, len(tasks)))  # workers that will grade at once
        setup = {
            "assignment": assignment,
            "course_dir": str(course_dir),
            "template_db": str(template),
            "workdir": scratch,
            "cell_timeout": timeout,
            "feedback": feedback,
            "feedback_detail": feedback_detail,
            "unsafe": unsafe,
            "gpus": granted,
            "tmpfs_bytes": disk_mb << 20,
            "memory_bytes": memory_mb << 20,
            "limits": limits_for(config, assignment, timeout, cell_timeout_s is not None, granted, busy),
            # each kernel's share of the cores: torch's default of one thread per core, in every
            # worker's kernel at once, made an honest training submission 2.6x slower on 2 cores
            "kernel_threads": max(1, (os.cpu_count() or 1) // busy),
        }
        originals = {s.student: s.folder for s in found}
        setup_s = time.perf_counter() - started
        t0 = time.perf_counter()
        for result in runner.run(tasks, setup, workers, submission_timeout_s) if tasks else ():
            t = time.perf_counter()
            merge.merge(config, info, result, originals.get(result["student"]))
            result["timing"]["merge_s"] = time.perf_counter() - t
            row = {
                "student": result["student"],
                "status": result["status"],
                "notes": result["notes"],
                "review": result.get("review", []),
                "seconds": result["timing"].get("worker_s", 0.0),
            }
            if result.get("sandbox_uid") is not None:
                row["sandbox_uid"] = result["sandbox_uid"]  # the uid its kernel ran as (this run's lease)
            if result.get("limits"):
                row["limits"] = result["limits"]  # what this submission's cells were allowed, scaled
            if result["status"] != "error":
                row.update(merge.read_back(config, info, result["student"]))
            elif result.get("error_log"):
                row["error_log"] = result["error_log"]  # report.json keeps why nbgrader failed
            if result.get("feedback"):
                row["feedback"] = sorted(
                    str(p) for p in (course_dir / "feedback" / result["student"] / assignment).glob("*.html")
                )
            rows.append(row)
            results.append(result)
            journal.record(out, row, digests.get(row["student"]))  # survives a kill of this process
            report.write_csv(out / "grades.csv", info, [row])
            if not quiet:
                print(
                    f"  {row['student']}: {row['status']}"
                    + (f" {row['score']:g}/{info.max_score:g}" if row.get("score") is not None else ""),
                    flush=True,
                )
        grading_s = time.perf_counter() - t0
    rows.sort(key=lambda r: str(r["student"]))

    def mean(key: str) -> float:
        values = [r["timing"][key] for r in results if key in r["timing"]]
        return statistics.fmean(values) if values else 0.0

    timing = {
        "workers": min(workers, max(1, len(tasks))),
        "submissions": len(rows),
        "setup_s": setup_s,
        "grading_s": grading_s,
        "per_submission_s": grading_s / max(1, len(tasks)),
        "mean_worker_s": mean("worker_s"),
        "mean_autograde_s": mean("autograde_s"),
        "mean_feedback_s": mean("feedback_s"),
        "mean_merge_s": mean("merge_s"),
        "total_s": time.perf_counter() - started,
    }
    record = {
        "assignment": assignment,
        "course_dir": str(course_dir),
        "submissions": str(submissions),
        "max_score": info.max_score,
        "auto_max_score": info.auto_max_score,
        "cells": [{"column": c.column, "max_score": c.max_score, "manual": c.manual} for c in info.cells],
        "cell_timeout_s": setup["cell_timeout"],
        "kernels": "UNSANDBOXED (--unsafe-no-sandbox)" if unsafe else f"bubblewrap sandbox, GPUs {granted}",
        "timing": timing,
        "students": rows,
    }
    report.write_csv(out / "grades.csv", info, rows)
    report.write_json(out / "report.json", record)
    if not quiet:
        print(report.table(info, rows, timing))
        print(f"grades: {out / 'grades.csv'}  feedback: {course_dir / 'feedback'}/<student>/{assignment}/")
    return record
