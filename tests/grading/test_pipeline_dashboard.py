"""End to end, from a clean copy of the course: a folder of dashboard submissions (right,
untouched, broken and hostile ones) graded in parallel by course-grade, each in its sandbox.

Every submission gets the score its code deserves or a clear error; none stops the run or
changes another student's grade; the gradebook, CSV and feedback agree with each other.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from grading_support import GRADE, nbgrader, run

from course_grading import variants as V

pytestmark = pytest.mark.grading

A, NB = "gpu_monitoring_dashboard", "gpu_dashboard"
POINTS = {
    "test_track": 2,
    "test_log_csv": 2,
    "test_summarise": 2,
    "test_find_alerts": 2,
    "test_plot_dashboard": 1,
    "test_watch": 1,
}
ALL = dict.fromkeys(POINTS, "full")

# a release whose answers are impostors: values that claim to equal anything, and the tests'
# helpers patched to let anything pass (each test cell reloads them)
IMPOSTOR = """
class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __len__(self): return 12
    def __iter__(self): return iter(())
    def __getitem__(self, key): return self

def track(*args, **kwargs): return Anything()
log_csv = summarise = find_alerts = plot_dashboard = watch = track

import course_checks
course_checks.no_shadowed_builtins = lambda namespace: None
course_checks.assert_series_equal = course_checks.assert_log_matches = lambda *a, **k: None
course_checks.plain = lambda value, where="": value
"""


def expect(**zeroed) -> dict:
    """Per test cell: full points except the ones named (which score 0)."""
    return {f"{NB}:{cell}": (0.0 if cell in zeroed else float(points)) for cell, points in POINTS.items()}


ZERO = expect(**ALL)


@pytest.fixture(scope="module")
def graded(module_course: Path):
    """Grade one folder of submissions once; the tests below read the outcome."""
    course = module_course
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    good = V.perfect(source, release)
    subs = course / "incoming"
    cases = {
        "perfect": (good, expect()),
        "untouched_release": (release, ZERO),
        "sys_exit_in_part2": (V.prepend(good, "log_csv", V.SYS_EXIT), expect(test_log_csv=0)),
        "os_exit_in_part3": (
            V.prepend(good, "summarise", V.OS_EXIT),
            expect(test_summarise=0, test_find_alerts=0, test_plot_dashboard=0, test_watch=0),
        ),
        "segfault_in_part4": (
            V.prepend(good, "find_alerts", V.SEGFAULT),
            expect(test_find_alerts=0, test_plot_dashboard=0, test_watch=0),
        ),
        "busy_loop_in_part5": (V.prepend(good, "plot_dashboard", V.BUSY_LOOP), expect(test_plot_dashboard=0)),
        "stubborn_loop_in_part6": (V.prepend(good, "watch", V.STUBBORN_LOOP), expect(test_watch=0)),
        "tests_edited_on_release": (V.edit_tests(release), ZERO),
        "tests_edited_on_perfect": (V.edit_tests(good, "raise SystemExit('tampered')"), expect()),
        "tests_deleted": (V.delete_tests(good), expect()),
        "impostor": (V.append_code(release, IMPOSTOR, after="setup"), ZERO),
        "shadowed_builtin": (V.append_code(good, "max = 3  # a variable named like a builtin", after="setup"), ZERO),
    }
    for student, (nb, _) in cases.items():
        # half in nbgrader's layout, half flat, as an LMS download unpacks
        folder = subs / student / A if len(student) % 2 else subs / student
        V.write(nb, folder, NB)
    (subs / "invalid_json").mkdir(parents=True)
    (subs / "invalid_json" / f"{NB}.ipynb").write_text(json.dumps(V.perfect(source, release))[:5000])
    V.write(good, subs / "renamed", f"{NB} (1)")
    (subs / "nothing").mkdir()
    (subs / "nothing" / "README.txt").write_text("forgot the notebook")
    V.write(good, subs / "bad id", NB)
    done = run(
        [*GRADE, A, subs, "--workers", "2", "--cell-timeout", "15", "--out", course / "reports"],
        cwd=course,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads((course / "reports" / "report.json").read_text())
    return {
        "course": course,
        "subs": subs,
        "stdout": done.stdout,
        "report": report,
        "cases": cases,
        "rows": {r["student"]: r for r in report["students"]},
    }


def test_each_submission_gets_the_score_its_code_deserves(graded):
    wrong = {}
    for student, (_, want) in graded["cases"].items():
        row = graded["rows"][student]
        if row["status"] != "graded" or row["cells"] != want:
            wrong[student] = (row["status"], row.get("cells"), row["notes"])
    assert not wrong, json.dumps(wrong, indent=1)
    assert graded["rows"]["perfect"]["score"] == 10 == graded["report"]["max_score"]


def test_kernel_deaths_and_hangs_are_named_in_the_report(graded):
    notes = {s: " ".join(r["notes"]) for s, r in graded["rows"].items()}
    assert "the kernel died in summarise" in notes["os_exit_in_part3"]
    assert "the kernel died in find_alerts" in notes["segfault_in_part4"]
    assert (
        "a cell ran past the time limit in plot_dashboard; cells after it were still run" in notes["busy_loop_in_part5"]
    )
    assert "the kernel hung in watch; cells after it were not run" in notes["stubborn_loop_in_part6"]
    assert notes["perfect"] == ""


def test_broken_or_missing_notebooks_score_zero_with_a_clear_reason(graded):
    rows = graded["rows"]
    for student in ("invalid_json", "renamed", "nothing"):
        assert rows[student]["status"] == "missing" and rows[student]["score"] == 0, rows[student]
    assert "not valid notebook JSON" in rows["invalid_json"]["notes"][0]
    assert "found gpu_dashboard (1).ipynb instead" in rows["renamed"]["notes"][0]
    assert "gpu_dashboard.ipynb was not submitted" in rows["nothing"]["notes"][0]
    assert rows["bad id"]["status"] == "error" and "not a usable student id" in rows["bad id"]["notes"][0]
    assert "score" not in rows["bad id"]


def test_locked_tests_come_back_from_the_gradebook(graded):
    course = graded["course"]
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    originals = {c.metadata["nbgrader"]["grade_id"]: c.source for c in V.cells_of(source, "test")}
    for student in ("tests_edited_on_release", "tests_deleted"):
        autograded = V.read(course / "autograded" / student / A / f"{NB}.ipynb")
        restored = {c.metadata["nbgrader"]["grade_id"]: c.source for c in V.cells_of(autograded, "test")}
        assert sorted(restored) == sorted(originals), student
        for grade_id, text in restored.items():
            assert text.endswith(originals[grade_id]), f"{student}: {grade_id} was not restored"
            if student == "tests_deleted":
                assert "was missing from the submission. It was added back by nbgrader" in text


def test_csv_gradebook_and_nbgrader_export_agree(graded):
    course = graded["course"]
    with open(course / "reports" / "grades.csv", newline="") as f:
        csv_rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(csv_rows) == set(graded["rows"])
    assert csv_rows["os_exit_in_part3"]["score"] == "4" and csv_rows["os_exit_in_part3"][f"{NB}:test_track"] == "2"
    assert csv_rows["bad id"]["status"] == "error" and csv_rows["bad id"]["score"] == ""
    # nbgrader_config.py sends `nbgrader export` to the ignored grading-reports/ (student grades
    # must never land at the repository root, where they could be committed)
    done = nbgrader("export", cwd=course)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (course / "grades.csv").exists()
    with open(course / "grading-reports" / "nbgrader-export.csv", newline="") as f:
        exported = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f) if r["assignment"] == A}
    assert exported == {s: float(r["score"]) for s, r in csv_rows.items() if r["score"]}


def test_feedback_is_generated_for_every_graded_submission(graded):
    course = graded["course"]
    for student, row in graded["rows"].items():
        html = course / "feedback" / student / A / f"{NB}.html"
        if row["status"] == "graded":
            assert f"Score: {row['score']:.1f} / 10.0" in html.read_text(), student
        else:
            assert not html.exists(), student
    crashed = (course / "feedback" / "os_exit_in_part3" / A / f"{NB}.html").read_text()
    assert "KernelDied" in crashed and "NotRun" in crashed


def test_the_run_prints_a_table_with_timings(graded):
    out = graded["stdout"]
    assert "per submission" in out and "perfect" in out and "grades:" in out
    timing = graded["report"]["timing"]
    assert timing["submissions"] == len(graded["rows"]) and timing["per_submission_s"] > 0


def _grades(db: Path, student: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return sorted(
            con.execute(
                "SELECT base_cell.name, grade.auto_score, grade.manual_score, grade.needs_manual_grade "
                "FROM grade JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
                "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
                "JOIN student ON submitted_assignment.student_id = student.id "
                "JOIN base_cell ON grade.cell_id = base_cell.id WHERE student.id = ?",
                (student,),
            ).fetchall()
        )


def test_regrading_one_student_touches_no_one_else(graded):
    course, subs = graded["course"], graded["subs"]
    db = course / "gradebook.db"
    with sqlite3.connect(db) as con:  # a person's manual grade on another student must survive
        con.execute(
            "UPDATE grade SET manual_score = 1.5 WHERE id IN (SELECT grade.id FROM grade "
            "JOIN submitted_notebook n ON grade.notebook_id = n.id JOIN submitted_assignment a "
            "ON n.assignment_id = a.id WHERE a.student_id = 'perfect')"
        )
    others = [s for s in graded["rows"] if s not in ("untouched_release", "bad id")]
    before = {s: _grades(db, s) for s in others}
    # the student fixes the work and is graded again, alone
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    V.write(V.perfect(source, release), subs / "untouched_release" / A, NB)
    done = run(
        [*GRADE, A, subs, "--student", "untouched_release", "--no-feedback", "--out", course / "regrade"],
        cwd=course,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    again = json.loads((course / "regrade" / "report.json").read_text())["students"]
    assert [(r["student"], r["score"]) for r in again] == [("untouched_release", 10.0)]
    assert {s: _grades(db, s) for s in others} == before


def test_plain_nbgrader_autograde_uses_the_course_config(course: Path):
    """Without our script: `nbgrader autograde` with the course's nbgrader_config.py grades a
    submission whose kernel dies (stock nbgrader would abort that student) and re-adds deleted tests."""
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    good = V.perfect(source, release)
    V.write(V.delete_tests(V.prepend(good, "find_alerts", V.OS_EXIT)), course / "submitted" / "zed" / A, NB)
    assert nbgrader("generate_assignment", A, "--force", cwd=course).returncode == 0
    done = nbgrader("autograde", A, cwd=course)
    assert done.returncode == 0, done.stderr[-3000:]
    assert nbgrader("export", cwd=course).returncode == 0  # to the ignored grading-reports/
    with open(course / "grading-reports" / "nbgrader-export.csv", newline="") as f:
        assert [(r["student_id"], float(r["score"])) for r in csv.DictReader(f)] == [("zed", 6.0)]


def test_a_submission_over_the_hard_limit_is_stopped_and_the_next_one_graded(course: Path):
    """The last line of defence: a worker stuck on one submission is killed with its kernel,
    that student is reported as an error, and a fresh worker grades the others."""
    import psutil

    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    good = V.perfect(source, release)
    subs = course / "incoming"
    V.write(V.prepend(good, "track", "import time\ntime.sleep(120)\n"), subs / "a_slow", NB)
    V.write(good, subs / "b_fine", NB)
    done = run(
        [
            *GRADE,
            A,
            subs,
            "--workers",
            "1",
            "--cell-timeout",
            "300",  # the cell limit must not come first
            "--submission-timeout",
            "12",
            "--no-feedback",
            "--out",
            course / "reports",
        ],
        cwd=course,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {r["student"]: r for r in json.loads((course / "reports" / "report.json").read_text())["students"]}
    assert rows["a_slow"]["status"] == "error" and "longer than 12 s" in rows["a_slow"]["notes"][0]
    assert rows["b_fine"]["status"] == "graded" and rows["b_fine"]["score"] == 10

    def cwd(proc):
        try:
            return proc.cwd()
        except (psutil.Error, OSError):
            return ""

    # the stuck kernel (it ran in the worker's autograded/a_slow folder) is gone with its worker
    assert not [p.pid for p in psutil.process_iter() if "autograded/a_slow" in cwd(p)]
    assert not (course / "autograded" / "a_slow").exists(), "an error writes nothing for that student"


def test_a_looping_submission_costs_a_few_times_an_honest_one(course: Path):
    """Issue 19: time limits follow the solution's own time (nbgrader_config.py, scaled by the
    load), and all cells of a submission share a budget, so a submission whose every part loops
    is stopped after a few times an honest one's time, with a note that says so and where."""
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    good = looping = V.perfect(source, release)
    for part in ("track", "log_csv", "summarise", "find_alerts", "plot_dashboard", "watch"):
        looping = V.prepend(looping, part, V.BUSY_LOOP)
    subs = course / "incoming"
    V.write(good, subs / "honest", NB)
    V.write(looping, subs / "looping", NB)
    done = run([*GRADE, A, subs, "--workers", "1", "--out", course / "reports"], cwd=course, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {r["student"]: r for r in json.loads((course / "reports" / "report.json").read_text())["students"]}
    honest, loop = rows["honest"], rows["looping"]
    assert honest["score"] == 10 and honest["notes"] == [], honest
    assert loop["score"] == 0
    stopped = [n for n in loop["notes"] if "stopped for time in " in n]
    assert len(stopped) == 1 and "time budget" in stopped[0] and "not run" in stopped[0], loop["notes"]
    assert loop["seconds"] < 5 * honest["seconds"], (loop, honest)
