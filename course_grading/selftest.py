"""Grade every assignment's solution and a few broken submissions in a scratch course, on
whatever hardware is here (NCCL on 2+ GPUs, NVML readings on real GPUs), and check the
scores. ``course-grade --selftest --out FILE`` writes the record."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import course, variants
from .grading import grade_folder

# Each case: how to make the submission from (source, release), and the autograded score it must get.
CASES: dict[str, dict[str, Any]] = {
    "gpu_monitoring_dashboard": {
        "notebook": "gpu_dashboard",
        "cases": {
            "solution": (lambda s, r: variants.perfect(s, r), 10),
            "release": (lambda s, r: r, 0),
            "kernel_crash_in_part3": (
                lambda s, r: variants.prepend(variants.perfect(s, r), "summarise", variants.OS_EXIT),
                4,
            ),
            "plot_missing": (lambda s, r: variants.stub(variants.perfect(s, r), r, "plot_dashboard"), 9),
        },
    },
    "multi_gpu_training": {
        "notebook": "multi_gpu_training",
        "cases": {
            "solution": (lambda s, r: variants.perfect(s, r), 11),
            "release": (lambda s, r: r, 0),
            "every_rank_logs": (
                lambda s, r: variants.replace(variants.perfect(s, r), "ddp_script", "if rank == 0:", "if True:"),
                10,
            ),
            # the script loops as it is imported (tests and torchrun ranks): stopped by the time
            # limits, which here get their GPU scaling (report: limits, seconds)
            "every_answer_loops": (
                lambda s, r: variants.prepend(
                    variants.prepend(variants.perfect(s, r), "ddp_script", variants.BUSY_LOOP),
                    "train_local",
                    variants.BUSY_LOOP,
                ),
                0,
            ),
        },
    },
}


_PROBE = """
import json, torch
info = {"torch": torch.__version__, "cuda_devices": torch.cuda.device_count()}
info["gpus"] = [torch.cuda.get_device_name(i) for i in range(info["cuda_devices"])]
try:
    from course_utils.telemetry import course_mode
    info["course_mode"] = list(course_mode())
except Exception as exc:
    info["course_mode"] = f"unavailable: {exc}"
print(json.dumps(info))
"""


def environment() -> dict:
    """What this machine offers, probed in a child process: the grader forks its workers, and a
    process that touched CUDA is best not forked."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.node(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "nccl_nvls_enable": os.environ.get("NCCL_NVLS_ENABLE"),
        "nbgrader": metadata.version("nbgrader"),
        "ipykernel": metadata.version("ipykernel"),
    }
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    if probe.returncode == 0:
        env.update(json.loads(probe.stdout.strip().splitlines()[-1]))
    else:
        env["torch"] = "probe failed: " + probe.stderr.strip()[-500:]
    env["expected_ddp_backend"] = "nccl" if env.get("cuda_devices", 0) >= 2 else "gloo"
    return env


def make_course(root: Path) -> Path:
    course_dir = root / "course"
    course_dir.mkdir()
    shutil.copy2(course.REPO / "nbgrader_config.py", course_dir)
    shutil.copytree(
        course.REPO / "solutions",
        course_dir / "solutions",
        ignore=shutil.ignore_patterns("work", "__pycache__", ".ipynb_checkpoints"),
    )
    return course_dir


def release_of(course_dir: Path, assignment: str) -> Path:
    from nbgrader.apps import NbGraderAPI

    result = NbGraderAPI(config=course.load_config(course_dir)).generate_assignment(assignment, force=True)
    if not result["success"]:
        raise RuntimeError(result.get("error") or result.get("log"))
    return course_dir / "exercises" / assignment


def evidence(course_dir: Path, assignment: str, student: str) -> dict:
    """What the GPU path did, read from the autograded folder of a submission."""
    import nbformat

    folder = course_dir / "autograded" / student / assignment
    found = {}
    run = folder / "work" / "run_ddp" / "run.json"
    if run.exists():
        found["ddp_run"] = json.loads(run.read_text())
    for path in folder.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.get("id") in ("setup", "test_watch", "launch"):
                text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
                if text.strip():
                    found[f"output_{cell['id']}"] = text.strip()[-800:]
    return found


def selftest(out: Path | None, workers: int | None = None, unsafe: bool = False, gpus: str | None = None) -> int:
    course.prepare_environment()
    started = time.perf_counter()
    record: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "sandbox": "none (--unsafe-no-sandbox)" if unsafe else "bubblewrap",
        "assignments": {},
    }
    passed = True
    with tempfile.TemporaryDirectory(prefix="course_grading-selftest-") as tmp:
        course_dir = make_course(Path(tmp))
        for assignment, spec in CASES.items():
            release_dir = release_of(course_dir, assignment)
            source = variants.read(course_dir / "solutions" / assignment / f"{spec['notebook']}.ipynb")
            release = variants.read(release_dir / f"{spec['notebook']}.ipynb")
            subs = Path(tmp) / "submissions" / assignment
            for student, (make, _) in spec["cases"].items():
                variants.write(make(source, release), subs / student, spec["notebook"])
            print(f"\n== {assignment}", flush=True)
            graded = grade_folder(
                course_dir,
                assignment,
                subs,
                workers=workers or 2,
                out=Path(tmp) / "reports" / assignment,
                unsafe=unsafe,
                gpus=gpus,
                memory_mb=16384,
            )  # CUDA contexts and NCCL: room for 2 ranks
            rows = {r["student"]: r for r in graded["students"]}
            checks: dict[str, dict[str, Any]] = {}
            for student, (_, want) in spec["cases"].items():
                row = rows[student]
                ok = row["status"] == "graded" and row.get("auto_score") == want
                passed &= ok
                checks[student] = {
                    "expected_auto_score": want,
                    "auto_score": row.get("auto_score"),
                    "status": row["status"],
                    "cells": row.get("cells"),
                    "notes": row["notes"],
                    "seconds": round(row["seconds"], 2),
                    "limits": row.get("limits"),
                    "ok": ok,
                }
                if row.get("error_log"):  # why nbgrader could not grade it, in full
                    checks[student]["error_log"] = row["error_log"]
            record["assignments"][assignment] = {
                "max_score": graded["max_score"],
                "auto_max_score": graded["auto_max_score"],
                "timing": {k: round(v, 3) if isinstance(v, float) else v for k, v in graded["timing"].items()},
                "submissions": checks,
                "evidence": evidence(course_dir, assignment, "solution"),
            }
    record["passed"] = passed
    record["total_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(record, indent=1) + "\n"
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
        print(f"\nwrote {out}")
    print(
        "\nself-test " + ("PASSED" if passed else "FAILED") + f" in {record['total_s']} s on "
        f"{record['environment'].get('cuda_devices', 0)} GPU(s)"
    )
    for assignment, result in record["assignments"].items():
        for student, check in result["submissions"].items():
            verdict = "ok" if check["ok"] else "WRONG"
            print(
                f"  {assignment:<26}{student:<24}{check['auto_score']!s:>6} / expected "
                f"{check['expected_auto_score']:<4}{verdict}"
            )
    return 0 if passed else 1


def requirements() -> list[str]:
    """``name==version`` of everything grading imports beyond torch and course_utils: the
    closure of nbgrader's and ipykernel's dependencies, as installed here."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = ["nbgrader", "ipykernel", "psutil"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = f"{dist.metadata['Name']}=={dist.version}"
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(seen.values(), key=str.lower)


if __name__ == "__main__":
    sys.exit(selftest(None))
