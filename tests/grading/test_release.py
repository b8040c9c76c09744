"""The release is nbgrader's output for the source, and the two behave as they must:
solutions pass every test, the untouched release fails every graded one."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from grading_support import ASSIGNMENTS, REPO, nbgrader

pytestmark = pytest.mark.grading


def _files(folder: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not {"__pycache__", "work", ".ipynb_checkpoints"} & set(rel.parts):
            files[str(rel)] = path
    return files


def _content(path: Path):
    """A notebook as parsed JSON (key order and whitespace do not matter, every value does)."""
    if path.suffix == ".ipynb":
        return json.loads(path.read_text())
    return path.read_bytes()


def test_regenerating_the_release_reproduces_exercises(course: Path):
    for assignment in ASSIGNMENTS:
        done = nbgrader(
            "generate_assignment", assignment, "--force", "--CourseDirectory.release_directory=regenerated", cwd=course
        )
        assert done.returncode == 0, done.stderr[-2000:]
        fresh, committed = _files(course / "regenerated" / assignment), _files(REPO / "exercises" / assignment)
        assert sorted(fresh) == sorted(committed), (
            f"{assignment}: the files differ; run `nbgrader generate_assignment {assignment} --force` and commit"
        )
        for name, path in fresh.items():
            want, have = _content(path), _content(committed[name])
            where = ""
            if isinstance(want, dict):
                cells = [w.get("id") for w, h in zip(want["cells"], have["cells"], strict=False) if w != h]
                where = f" (cells {cells[:5]})" if cells else ""
            assert want == have, (
                f"exercises/{assignment}/{name} is not what nbgrader generates from solutions/{where}: "
                f"run `nbgrader generate_assignment {assignment} --force` and commit the result"
            )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_validation(course: Path, assignment: str):
    done = nbgrader("validate", f"solutions/{assignment}/{ASSIGNMENTS[assignment]}.ipynb", cwd=course)
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_fails_every_graded_test(course: Path, assignment: str):
    path = course / "exercises" / assignment / f"{ASSIGNMENTS[assignment]}.ipynb"
    done = nbgrader("validate", "--invert", path.relative_to(course), cwd=course)
    assert "Success! The notebook does not pass any tests." in done.stdout, done.stdout[-3000:]
    if assignment == "gpu_monitoring_dashboard":  # the quicker one: what a learner sees, with the points
        done = nbgrader("validate", path.relative_to(course), cwd=course)
        assert "VALIDATION FAILED" in done.stdout and "test_track: 0 of 2 point(s) as it stands" in done.stdout, (
            done.stdout[-3000:]
        )
    # and the graded tests are really there to fail: nbgrader counts them
    graded = [
        c
        for c in nbformat.read(path, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
    ]
    assert len(graded) >= 6
