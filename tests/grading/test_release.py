"""The release is nbgrader's output for the source, and the two behave as they must:
solutions pass every test, the untouched release fails every graded one."""

from __future__ import annotations

import json
import re
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


def test_a_failing_test_points_at_its_own_line(course: Path, tmp_path: Path):
    """The learner trial saw a failing test's traceback point at the wrong source line: the
    arrow must name the check that failed, with its line number in the cell the learner sees."""
    release = course / "exercises" / "gpu_monitoring_dashboard"
    nb = nbformat.read(release / "gpu_dashboard.ipynb", as_version=4)
    answer = next(c for c in nb.cells if c.cell_type == "code" and "def track(" in c.source)
    answer.source = answer.source.replace(  # one GPU of the two: test_track's first visible check fails
        "raise NotImplementedError()",
        "return {0: {k: [0.0] * n_samples for k in "
        "('timestamp', 'memory_used_mib', 'temperature_c', 'utilization_pct')}}",
    )
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_track")
    failing = "C.assert_series_equal(series, C.read_trace(open_backend(**TRACE), 12))"
    line = test.source.splitlines().index(failing) + 1
    folder = tmp_path / "gpu_monitoring_dashboard"
    folder.mkdir()
    (folder / "course_checks.py").write_bytes((release / "course_checks.py").read_bytes())
    nbformat.write(nb, folder / "gpu_dashboard.ipynb")
    done = nbgrader("validate", folder / "gpu_dashboard.ipynb", cwd=course)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert "Cell In[" in plain and f"line {line}" in plain, plain[-3000:]
    assert re.search(rf"-+> {line} C\.assert_series_equal\(series", plain), plain[-3000:]
    assert "AssertionError: GPUs [0], expected [0, 1]" in plain, plain[-3000:]
