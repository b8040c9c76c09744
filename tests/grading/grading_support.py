"""Helpers for the nbgrader end-to-end tests: a clean copy of the course, nbgrader on PATH.

nbgrader runs `alembic` and the kernelspec runs `python` from PATH, so the test
interpreter's bin folder goes first on PATH for everything started from here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GRADE = [sys.executable, "-m", "course_grading"]  # the course-grade command, from this checkout

ASSIGNMENTS = {"gpu_monitoring_dashboard": "gpu_dashboard", "multi_gpu_training": "multi_gpu_training"}


def grading_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("COURSE_GPU_MODE", None)  # the tests adapt to this machine's real backend
    return env


def run(args: list, cwd: Path, timeout: float = 600, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**grading_env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def nbgrader(*args, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, timeout=timeout)


def make_course(root: Path) -> Path:
    """What an instructor's course folder holds: config, source and release (the grading code
    is the installed course_grading package)."""
    course = root / "course"
    course.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", course)
    ignore = shutil.ignore_patterns("work", "__pycache__", ".ipynb_checkpoints")
    for folder in ("solutions", "exercises"):
        shutil.copytree(REPO / folder, course / folder, ignore=ignore)
    return course
