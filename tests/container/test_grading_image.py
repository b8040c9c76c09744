"""The grading image grades a mixed batch with no network; the gradebook and reports land on the host.

Submissions are made from the assignment's own notebooks (course_grading/variants.py, the cases
and expected scores of the grading self-test), written to a host folder mounted at /grading, and
graded with the documented command: `grade ASSIGNMENT submitted` in a `--network none` container,
run as root and privileged because each submission's kernel runs in a bubblewrap sandbox inside it.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from container_support import LIMITS, podman

pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "gpu_monitoring_dashboard"


def make_submissions(folder: Path) -> dict[str, float]:
    """STUDENT/ASSIGNMENT/NOTEBOOK.ipynb for each self-test case, plus a hostile one; expected scores."""
    from course_grading import variants
    from course_grading.selftest import CASES

    spec = CASES[ASSIGNMENT]
    source = variants.read(ROOT / "solutions" / ASSIGNMENT / f"{spec['notebook']}.ipynb")
    release = variants.read(ROOT / "exercises" / ASSIGNMENT / f"{spec['notebook']}.ipynb")
    expected = {}
    for case, (make, score) in spec["cases"].items():
        variants.write(make(source, release), folder / case / ASSIGNMENT, spec["notebook"])
        expected[case] = score
    # a learner who overwrote the hidden tests with `pass`: nbgrader puts the real ones back
    variants.write(
        variants.edit_tests(variants.perfect(source, release)), folder / "edited_tests" / ASSIGNMENT, spec["notebook"]
    )
    expected["edited_tests"] = spec["cases"]["solution"][1]
    return expected


def test_grading_a_mixed_batch_offline_writes_the_gradebook_and_reports_to_the_host(grading_image, tmp_path):
    state = tmp_path / "grading"
    expected = make_submissions(state / "submitted")
    proc = podman(
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "--privileged",
        "--user",
        "0",
        *LIMITS,
        "-v",
        f"{state}:/grading",
        grading_image,
        "grade",
        ASSIGNMENT,
        "submitted",
        "--workers",
        "2",
        timeout=800,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # the gradebook on the host holds every student's score
    with sqlite3.connect(state / "gradebook.db") as db:
        students = {row[0] for row in db.execute("SELECT id FROM student")}
    assert students == set(expected)
    rows = {r["student_id"]: r for r in csv.DictReader((state / "reports" / ASSIGNMENT / "grades.csv").open())}
    for student, score in expected.items():
        assert float(rows[student]["score"]) == pytest.approx(score), (student, rows[student])
    report = json.loads((state / "reports" / ASSIGNMENT / "report.json").read_text())
    assert report
    assert list((state / "feedback" / "solution" / ASSIGNMENT).glob("*.html"))
    assert list((state / "autograded" / "kernel_crash_in_part3" / ASSIGNMENT).glob("*.ipynb"))


def test_grade_refuses_a_state_folder_it_cannot_write(grading_image, tmp_path):
    state = tmp_path / "read-only"
    state.mkdir(mode=0o755)
    proc = podman(
        "run",
        "--rm",
        "--network",
        "none",
        "--privileged",
        "--user",
        "0",
        *LIMITS,
        "-v",
        f"{state}:/grading:ro",
        grading_image,
        "grade",
        ASSIGNMENT,
        "submitted",
        timeout=120,
    )
    assert proc.returncode == 2 and "is not writable by uid 0" in proc.stderr
