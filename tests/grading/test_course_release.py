"""`course-release` generates exercises/ from solutions/ without PATH tricks, and a failed
release leaves the committed release as it was."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from grading_support import REPO

pytestmark = pytest.mark.grading

ASSIGNMENT = "gpu_monitoring_dashboard"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _release(course: Path, *args) -> subprocess.CompletedProcess:
    """As an instructor would run it, with only the system's folders on PATH (no venv)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "course_grading.release", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_release_without_the_environment_on_path(course: Path):
    before = _digest(course / "exercises" / ASSIGNMENT)
    (course / "exercises" / ASSIGNMENT / "stale.txt").write_text("left from an old release")
    done = _release(course, ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    after = _digest(course / "exercises" / ASSIGNMENT)
    assert "stale.txt" not in after  # the release is what nbgrader generates, nothing more
    notebook = "gpu_dashboard.ipynb"
    assert json.loads((course / "exercises" / ASSIGNMENT / notebook).read_text()) == json.loads(
        (REPO / "exercises" / ASSIGNMENT / notebook).read_text()
    )
    assert set(after) == set(before)
    assert not list((course / "exercises").glob(".*")), "scratch folders left behind"


def test_a_failed_release_keeps_exercises(course: Path):
    before = _digest(course / "exercises" / ASSIGNMENT)
    (course / "solutions" / ASSIGNMENT / "gpu_dashboard.ipynb").write_text("{ not a notebook")
    done = _release(course, ASSIGNMENT)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is unchanged" in done.stderr
    assert _digest(course / "exercises" / ASSIGNMENT) == before
    assert not list((course / "exercises").glob(".*")), "scratch folders left behind"


def test_a_release_killed_between_the_renames_is_recovered(course: Path):
    target = course / "exercises" / ASSIGNMENT
    before = _digest(target)
    target.rename(target.with_name(f".{ASSIGNMENT}.old-deadbeef"))  # what a kill at that instant leaves
    (course / "solutions" / ASSIGNMENT / "gpu_dashboard.ipynb").write_text("{ not a notebook")
    done = _release(course, ASSIGNMENT)
    assert done.returncode == 2
    assert _digest(target) == before  # the old release is back although the new one failed
