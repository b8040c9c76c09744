"""course-export reads nbgrader's gradebook: totals with manual grades, parts awaiting a person,
resubmissions flagged for review, and a --student export that rewrites only that row."""

from __future__ import annotations

import csv

import pytest

from course_grading import export

nbgrader_api = pytest.importorskip("nbgrader.api")


@pytest.fixture
def gradebook(tmp_path):
    """A real gradebook: one assignment, one autograded part (2 points) and a written answer (3)."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with nbgrader_api.Gradebook(url, "course") as gb:
        gb.add_assignment("hw")
        gb.add_notebook("nb", "hw")
        gb.add_grade_cell("test_a", "nb", "hw", max_score=2, cell_type="code")
        gb.add_grade_cell("essay", "nb", "hw", max_score=3, cell_type="markdown")
        gb.add_solution_cell("essay", "nb", "hw")
        for student in ("ada", "bob", "cy"):
            gb.add_student(student)
        for student, auto in (("ada", 2.0), ("bob", 0.0)):
            gb.add_submission("hw", student)
            gb.find_grade("test_a", "nb", "hw", student).auto_score = auto
            gb.find_grade("test_a", "nb", "hw", student).needs_manual_grade = False
        gb.db.commit()
    return url, tmp_path


def _grade_essay(url, student, points):
    with nbgrader_api.Gradebook(url, "course") as gb:  # what formgrader does on "save"
        grade = gb.find_grade("essay", "nb", "hw", student)
        grade.manual_score, grade.needs_manual_grade = points, False
        gb.db.commit()


def _rows(url):
    return {r["student"]: r for r in export.rows_from_gradebook(url, "course")}


def test_ungraded_written_answers_are_marked_and_missing_students_listed(gradebook):
    url, _ = gradebook
    rows = _rows(url)
    assert rows["ada"]["score"] == 2.0 and rows["ada"]["max_score"] == 5.0
    assert rows["ada"]["awaiting_manual_grade"] == "essay" and rows["ada"]["status"] == "partly graded"
    assert rows["cy"]["status"] == "missing" and rows["cy"]["score"] == 0.0


def test_manual_grades_are_carried(gradebook):
    url, _ = gradebook
    _grade_essay(url, "ada", 2.5)
    ada = _rows(url)["ada"]
    assert ada["score"] == 4.5 and ada["manual_score"] == 2.5 and ada["nb:essay"] == 2.5
    assert ada["awaiting_manual_grade"] == "" and ada["status"] == "graded" and ada["review"] == ""


def test_a_resubmission_keeps_the_manual_grade_and_asks_for_review(gradebook):
    url, _ = gradebook
    _grade_essay(url, "ada", 2.5)
    with nbgrader_api.Gradebook(url, "course") as gb:  # what nbgrader's autograde does on a resubmission
        grade = gb.find_grade("essay", "nb", "hw", "ada")
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        gb.db.commit()
    ada = _rows(url)["ada"]
    assert ada["score"] == 4.5 and "kept 2.5" in ada["review"]


def test_a_student_export_rewrites_only_that_row(gradebook, tmp_path):
    url, _ = gradebook
    out = tmp_path / "report.csv"
    export.write_csv(out, export.rows_from_gradebook(url, "course"))
    with open(out, newline="") as f:
        first = {r["student"]: r for r in csv.DictReader(f)}
    _grade_essay(url, "ada", 3.0)
    _grade_essay(url, "bob", 1.0)  # graded too, but only ada is exported now
    fresh = export.rows_from_gradebook(url, "course", students=["ada"])
    export.write_csv(out, export.merge(export.read_csv(out), fresh, ["ada"], None))
    with open(out, newline="") as f:
        now = {r["student"]: r for r in csv.DictReader(f)}
    assert set(now) == {"ada", "bob", "cy"}
    assert now["ada"]["score"] == "5.0"
    assert now["bob"] == first["bob"]  # untouched until bob is exported
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.csv")]  # no temp files left


def test_the_command_writes_the_default_report_and_refuses_without_a_gradebook(gradebook, tmp_path, capsys):
    _, course = gradebook
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'course'\n")
    assert export.main(["--course-dir", str(course)]) == 0
    assert "2 wait for a person (formgrader): ada/hw, bob/hw" in capsys.readouterr().out
    assert (course / "grading-reports" / "gradebook.csv").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "nbgrader_config.py").write_text("c = get_config()\n")
    assert export.main(["--course-dir", str(empty)]) == 2
    assert "no gradebook" in capsys.readouterr().err
