"""The attack suite: hostile submissions graded together with honest ones, as a class would be.

One batch per assignment is graded once (module fixtures) and every test reads it. Each
attack gets its exact score; every honest student keeps full marks; the instructor's files
and the other submissions are byte-identical afterwards; no process is left; nothing of the
grader (its environment, the solutions, the hidden tests) reaches a student.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import attacks as X
import nbformat
import psutil
import pytest
from grading_support import GRADE, make_course, run

from course_grading import variants as V
from course_grading.sandbox import BASE_UID

pytestmark = pytest.mark.grading

A, NB = "gpu_monitoring_dashboard", "gpu_dashboard"
T = "multi_gpu_training"
POINTS = {"track": 2, "log_csv": 2, "summarise": 2, "find_alerts": 2, "plot_dashboard": 1, "watch": 1}
HONEST = ("honest_a", "honest_b")


def tree_hash(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_symlink():
                out[str(path)] = "link:" + os.readlink(path)
            elif path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sandbox_processes(report: dict, ended: float) -> list[psutil.Process]:
    """Processes of the sandbox uids this run leased (report.json names each submission's) that
    were started before the run ended: another grading run on the machine may hold other uids,
    or take these once the lease is released, and its processes are not this run's leftovers."""
    leased = {row["sandbox_uid"] for row in report["students"] if row.get("sandbox_uid") is not None}
    assert leased and all(BASE_UID <= uid < BASE_UID + 64 for uid in leased), leased
    found = []
    for proc in psutil.process_iter(["uids", "create_time"]):
        uids = proc.info.get("uids")
        if uids and uids.real in leased and (proc.info.get("create_time") or 0) < ended:
            found.append(proc)
    return found


def prefilled(release):
    """Test cells that claim to have passed: outputs filled in, points and checksums edited."""
    nb = V.edit_tests(release)
    for cell in V.cells_of(nb, "test"):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all tests passed\n")]
        cell.execution_count = 1
        cell.metadata["nbgrader"]["points"] = 100
        cell.metadata["nbgrader"]["checksum"] = "0" * 32
    return nb


def dashboard_cases(course: Path, subs: Path) -> dict:
    """student -> (notebook or None, expected total, flagged for review?)"""
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    good = V.perfect(source, release)
    paths = {"course": course, "subs": subs}

    def on(nb, part, text):
        return V.prepend(nb, part, X.code(text, **paths))

    return {
        "honest_a": (good, 10, False),
        "honest_b": (good, 10, False),
        "untouched": (release, 0, False),
        "attack_input_transformer": (on(release, "track", X.INPUT_TRANSFORMER), 0, True),
        "attack_ast_transformer": (on(release, "track", X.AST_TRANSFORMER), 0, True),
        "attack_run_cell_instance": (on(release, "track", X.RUN_CELL_INSTANCE), 0, True),
        "attack_run_cell_class": (on(release, "track", X.RUN_CELL_CLASS), 0, True),
        "attack_builtins": (on(release, "track", X.BUILTINS_PATCH), 0, True),
        "attack_excepthook": (on(release, "track", X.EXCEPTHOOK), 0, True),
        "attack_settrace": (on(release, "track", X.SETTRACE), 0, True),
        "attack_code_rewrite": (on(release, "track", X.CODE_REWRITE), 0, True),
        "attack_shadow_package": (on(release, "track", X.SHADOW_PACKAGE), 0, True),
        "attack_sys_modules": (on(release, "track", X.SYS_MODULES_SHADOW), 0, True),
        "attack_import_finder": (on(release, "track", X.IMPORT_FINDER), 0, True),
        "attack_append_course_checks": (on(release, "track", X.APPEND_COURSE_CHECKS), 0, True),
        "attack_read_solutions": (on(release, "track", X.READ_SOLUTIONS), 0, True),
        "attack_prefilled_outputs": (prefilled(release), 0, True),
        "attack_gc_hunt": (on(good, "watch", X.GC_HUNT), 9, True),
        "attack_blank_others": (on(good, "track", X.BLANK_OTHERS), 10, True),
        "attack_gradebook_daemon": (on(good, "track", X.GRADEBOOK_DAEMON), 10, False),
        "attack_kill_grader": (on(good, "track", X.KILL_GRADER), 10, True),
        "attack_read_environment": (on(good, "track", X.READ_ENVIRONMENT), 10, True),
        "attack_network": (on(good, "track", X.NETWORK), 10, True),
        "attack_write_outside": (on(good, "track", X.WRITE_OUTSIDE), 10, False),
        "attack_fork_bomb": (on(good, "watch", X.FORK_BOMB), 10, False),
        # its own disk is full when its own last test writes a file: that test fails, no one else's
        "attack_fill_disk": (on(good, "watch", X.FILL_DISK), 9, False),
        "attack_memory_hog": (on(good, "watch", X.MEMORY_HOG), 9, False),
        "attack_outlive_timeout": (on(good, "plot_dashboard", X.OUTLIVE_TIMEOUT), 9, False),
        "attack_history_leak": (V.append_code(good, X.PRINT_HISTORY), 10, False),
        "attack_symlink_to_other": (None, 0, False),  # made below: a link to honest_a's notebook
    }


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    course = make_course(root)
    subs = root / "incoming"
    cases = dashboard_cases(course, subs)
    for student, (nb, _, _) in cases.items():
        if nb is not None:
            V.write(nb, subs / student / A, NB)
    (subs / "attack_symlink_to_other" / A).mkdir(parents=True)
    (subs / "attack_symlink_to_other" / A / f"{NB}.ipynb").symlink_to(subs / "honest_a" / A / f"{NB}.ipynb")
    protected = (course / "solutions", course / "exercises", course / "nbgrader_config.py", subs)
    before = tree_hash(*protected)
    started = time.perf_counter()
    done = run(
        [
            *GRADE,
            A,
            subs,
            "--workers",
            "2",
            "--cell-timeout",
            "20",
            "--memory-mb",
            "1536",
            "--disk-mb",
            "256",
            "--out",
            course / "reports",
        ],
        cwd=course,
        timeout=900,
        extra_env={"GRADER_API_TOKEN": X.SECRET},
    )
    seconds = time.perf_counter() - started
    ended = time.time()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    time.sleep(2)  # what a daemon would need to strike after the run
    report = json.loads((course / "reports" / "report.json").read_text())
    return {
        "course": course,
        "subs": subs,
        "cases": cases,
        "before": before,
        "after": tree_hash(*protected),
        "rows": {r["student"]: r for r in report["students"]},
        "report": report,
        "seconds": seconds,
        "ended": ended,
        "stdout": done.stdout,
    }


def outputs_of(course: Path, student: str, assignment: str = A, notebook: str = NB) -> str:
    """What the submission's cells printed (their outputs, not their code)."""
    path = course / "autograded" / student / assignment / f"{notebook}.ipynb"
    return json.dumps([c.get("outputs", []) for c in V.read(path)["cells"]]) if path.exists() else ""


def test_every_attack_gets_its_exact_score(dashboard):
    wrong = {
        s: (dashboard["rows"][s].get("score"), want, dashboard["rows"][s]["notes"][:3])
        for s, (_, want, _) in dashboard["cases"].items()
        if dashboard["rows"][s].get("score") != want
    }
    assert not wrong, json.dumps(wrong, indent=1)
    assert len([s for s in dashboard["cases"] if s.startswith("attack_")]) >= 25


def test_every_honest_student_keeps_full_marks(dashboard):
    for student in HONEST:
        row = dashboard["rows"][student]
        assert row["status"] == "graded" and row["score"] == 10 and not row["review"], row
        assert row["notes"] == [], row


def test_tampering_is_flagged_for_review_and_honest_work_is_not(dashboard):
    flagged = {s for s, r in dashboard["rows"].items() if r.get("review")}
    expected = {s for s, (_, _, f) in dashboard["cases"].items() if f}
    assert expected <= flagged, sorted(expected - flagged)
    assert not flagged & {*HONEST, "untouched"}
    with open(dashboard["course"] / "reports" / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert rows["attack_input_transformer"]["review"] and rows["honest_a"]["review"] == ""
    assert rows["honest_a"]["score"] == "10"


def test_the_instructors_files_and_other_submissions_are_byte_identical(dashboard):
    assert dashboard["after"] == dashboard["before"]
    for path in ("owned.txt", "exercises/owned.txt"):
        assert not (dashboard["course"] / path).exists()
    assert not Path("/usr/owned.txt").exists() and not Path("/owned.txt").exists()


def test_no_process_is_left(dashboard):
    assert sandbox_processes(dashboard["report"], dashboard["ended"]) == []
    assert psutil.Process().children(recursive=True) == []


def test_the_gradebook_still_holds_the_reported_grades(dashboard):
    with sqlite3.connect(dashboard["course"] / "gradebook.db") as db:
        scores = dict(
            db.execute(
                "SELECT a.student_id, SUM(g.auto_score) FROM grade g JOIN submitted_notebook n ON g.notebook_id = n.id "
                "JOIN submitted_assignment a ON n.assignment_id = a.id GROUP BY a.student_id"
            ).fetchall()
        )
    for student in (*HONEST, "attack_gradebook_daemon"):
        assert scores[student] == dashboard["rows"][student]["score"] == 10


def test_nothing_of_the_grader_reaches_a_submission(dashboard):
    course = dashboard["course"]
    env = outputs_of(course, "attack_read_environment")
    assert "ENV" in env and X.SECRET not in env and "GRADER_API_TOKEN" not in env
    assert "no network" in outputs_of(course, "attack_network")
    assert "NETWORK REACHED" not in outputs_of(course, "attack_network")
    assert "WROTE" not in outputs_of(course, "attack_write_outside")
    assert "no solutions: FileNotFoundError" in outputs_of(course, "attack_read_solutions")
    assert "APPENDED" not in outputs_of(course, "attack_append_course_checks")
    assert "BLANKED 0" in outputs_of(course, "attack_blank_others")
    assert "refused: PermissionError" in outputs_of(
        course, "attack_kill_grader"
    ) or "refused: ProcessLookupError" in outputs_of(course, "attack_kill_grader")
    assert "fork refused after" in outputs_of(course, "attack_fork_bomb")
    assert "disk full after" in outputs_of(course, "attack_fill_disk")
    for path in course.rglob("*"):
        if path.is_file() and path.suffix in (".ipynb", ".html", ".csv", ".json"):
            assert X.SECRET not in path.read_text(errors="replace"), path


def test_the_guard_names_what_it_stopped(dashboard):
    notes = {s: " ".join(r["notes"] + r["review"]) for s, r in dashboard["rows"].items()}
    assert "an input transformer was installed" in notes["attack_input_transformer"]
    assert "an import finder _Fake from __main__ was added" in notes["attack_import_finder"]
    assert "an AST transformer was installed" in notes["attack_ast_transformer"]
    assert "run_cell was replaced" in notes["attack_run_cell_instance"]
    assert "run_cell was replaced (in its class)" in notes["attack_run_cell_class"]
    assert "builtins.len was replaced" in notes["attack_builtins"]
    # IPython puts its own hooks back around every cell: the scan is what shows this one
    assert "touches sys.excepthook" in notes["attack_excepthook"]
    assert "sys.settrace" in notes["attack_settrace"]
    assert "a second course_checks module" in notes["attack_shadow_package"]
    assert "course_checks in sys.modules" in notes["attack_sys_modules"]
    assert "gc.get_objects" in notes["attack_gc_hunt"]
    assert "came with outputs already filled in" in notes["attack_prefilled_outputs"]
    assert "the kernel died in watch" in notes["attack_memory_hog"]
    assert "a cell ran past the time limit in plot_dashboard" in notes["attack_outlive_timeout"]


def test_a_link_to_another_students_notebook_is_refused(dashboard):
    row = dashboard["rows"]["attack_symlink_to_other"]
    assert row["status"] == "missing" and row["score"] == 0
    assert "symbolic link" in row["notes"][0] and "never followed" in row["notes"][0]


def test_feedback_shows_results_but_not_the_hidden_tests(dashboard):
    course = dashboard["course"]
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    hidden = []
    for cell in V.cells_of(source, "test"):
        text = cell.source
        if "### BEGIN HIDDEN TESTS" in text:
            part = text.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
            hidden += [line.strip() for line in part.splitlines() if len(line.strip()) >= 16]
    assert hidden
    for student in (*HONEST, "untouched", "attack_history_leak"):
        html = (course / "feedback" / student / A / f"{NB}.html").read_text()
        assert "test_track" in html
        leaked = [line for line in hidden if line in html or line.replace('"', "&quot;") in html]
        assert not leaked, (student, leaked[:3])
    untouched = (course / "feedback" / "untouched" / A / f"{NB}.html").read_text()
    assert "NotImplementedError" in untouched or "AssertionError" in untouched  # the message is shown


def test_an_empty_run_keeps_earlier_grades_and_resume_keeps_what_was_graded(dashboard, tmp_path):
    course = dashboard["course"]
    grades = course / "reports" / "grades.csv"
    before = grades.read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run([*GRADE, A, empty, "--out", course / "reports"], cwd=course, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert grades.read_text() == before
    done = run(
        [
            *GRADE,
            A,
            dashboard["subs"],
            "--student",
            "honest_a",
            "--student",
            "untouched",
            "--resume",
            "--no-feedback",
            "--out",
            course / "reports",
        ],
        cwd=course,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["student"]: r for r in json.loads((course / "reports" / "report.json").read_text())["students"]}
    assert rows["honest_a"]["score"] == 10 and "kept from the interrupted run" in rows["honest_a"]["notes"][-1]
    assert grades.read_text().count("\n") == before.count("\n")


@pytest.mark.parametrize("value", ["0.5", "0", "-3", "nan"])
def test_a_cell_timeout_below_one_second_is_refused(value, tmp_path):
    done = run([*GRADE, A, tmp_path, "--cell-timeout", value], cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "--cell-timeout" in done.stderr and "at least 1" in done.stderr


def test_without_bubblewrap_untrusted_code_is_refused(tmp_path):
    course = make_course(tmp_path)
    (tmp_path / "subs").mkdir()
    done = run(
        [*GRADE, A, tmp_path / "subs"],
        cwd=course,
        timeout=120,
        extra_env={"PATH": os.path.dirname(os.path.realpath(GRADE[0]))},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "bwrap" in done.stderr and "--unsafe-no-sandbox" not in done.stdout


# -- the training assignment: torchrun inside the sandbox, with hostile neighbours -------------

TRAINING_POINTS = {
    "test_make_loader": 2,
    "test_wrap_model": 1,
    "test_torchrun": 2,
    "test_each_sample_once": 2,
    "test_matches_single_process": 2,
    "test_loss_and_rank0_logging": 1,
    "test_train_local": 1,
}


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    course = make_course(root)
    subs = root / "incoming"
    source = V.read(course / "solutions" / T / f"{T}.ipynb")
    release = V.read(course / "exercises" / T / f"{T}.ipynb")
    good = V.perfect(source, release)
    paths = {"course": course, "subs": subs}
    V.write(good, subs / "perfect", T)
    V.write(release, subs / "untouched", T)
    V.write(V.replace(good, "ddp_script", "if rank == 0:", "if True:"), subs / "every_rank_logs", T)
    V.write(V.prepend(release, "train_local", X.code(X.INPUT_TRANSFORMER)), subs / "attack_train_transformer", T)
    escape = X.code(
        X.KILL_GRADER
        + X.GRADEBOOK_DAEMON
        + X.READ_ENVIRONMENT
        + X.READ_SOLUTIONS.replace("gpu_monitoring_dashboard/gpu_dashboard", f"{T}/{T}"),
        **paths,
    )
    V.write(V.prepend(good, "train_local", escape), subs / "attack_train_escape", T)
    # sorts first, so it starts beside attack_train_escape and spins while most others run
    hog = V.prepend(V.prepend(release, "ddp_script", X.CPU_HOG), "train_local", X.CPU_HOG + V.BUSY_LOOP)
    V.write(hog, subs / "attack_cpu_hog", T)
    probe = "import os, torch\nprint('kernel threads', torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS'))\n"
    V.write(V.append_code(good, probe), subs / "threads_probe", T)
    protected = (course / "solutions", course / "exercises", course / "nbgrader_config.py", subs)
    before = tree_hash(*protected)
    done = run(
        [*GRADE, T, subs, "--workers", "2", "--memory-mb", "4096", "--out", course / "reports"],
        cwd=course,
        timeout=900,
        extra_env={"GRADER_API_TOKEN": X.SECRET},
    )
    ended = time.time()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    time.sleep(2)
    report = json.loads((course / "reports" / "report.json").read_text())
    return {
        "course": course,
        "ended": ended,
        "report": report,
        "rows": {r["student"]: r for r in report["students"]},
        "before": before,
        "after": tree_hash(*protected),
    }


@pytest.mark.slow
def test_training_is_graded_on_correctness_inside_the_sandbox(training):
    rows, report = training["rows"], training["report"]
    full = {f"{T}:{cell}": float(points) for cell, points in TRAINING_POINTS.items()}
    assert report["auto_max_score"] == 11 and report["max_score"] == 14
    assert rows["perfect"]["cells"] == {**full, f"{T}:comparison": None}, rows["perfect"]
    assert rows["perfect"]["needs_manual_grade"] and rows["perfect"]["auto_score"] == 11
    assert rows["untouched"]["auto_score"] == 0 and rows["untouched"]["score"] == 0
    assert rows["untouched"]["cells"][f"{T}:comparison"] == 0, "an unanswered question scores 0 without a person"
    assert rows["every_rank_logs"]["cells"] == {
        **full,
        f"{T}:test_loss_and_rank0_logging": 0.0,
        f"{T}:comparison": None,
    }
    ran = json.loads((training["course"] / "autograded" / "perfect" / T / "work" / "run_ddp" / "run.json").read_text())
    assert ran["world_size"] == 2 and ran["wrapped_in"] == "DistributedDataParallel"
    assert ran["backend"] == ("nccl" if ran["cuda_devices"] >= 2 else "gloo")
    assert (training["course"] / "feedback" / "perfect" / T / f"{T}.html").exists()


@pytest.mark.slow
def test_each_kernel_gets_its_share_of_the_cores(training):
    """2 workers: each kernel's torch uses cores / 2 threads, not one per core (which, in both
    workers' kernels at once, made honest training submissions 2.6x slower on 2 cores)."""
    share = max(1, (os.cpu_count() or 1) // 2)
    assert training["rows"]["threads_probe"]["auto_score"] == 11
    assert f"kernel threads {share} {share}" in outputs_of(training["course"], "threads_probe", T, T)


@pytest.mark.slow
def test_training_attacks_get_their_true_score_and_change_nothing(training):
    rows = training["rows"]
    assert rows["attack_train_transformer"]["auto_score"] == 0 and rows["attack_train_transformer"]["review"]
    assert rows["attack_train_escape"]["auto_score"] == 11, rows["attack_train_escape"]["notes"]
    # the CPU hog's neighbours keep their scores and were stopped for nothing
    assert rows["attack_cpu_hog"]["auto_score"] == 0
    for student in ("attack_train_escape", "perfect", "every_rank_logs", "threads_probe"):
        assert not [n for n in rows[student]["notes"] if "time" in n], (student, rows[student]["notes"])
    out = outputs_of(training["course"], "attack_train_escape", T, T)
    assert "no solutions: FileNotFoundError" in out and X.SECRET not in out
    assert training["after"] == training["before"]
    assert sandbox_processes(training["report"], training["ended"]) == []
    assert psutil.Process().children(recursive=True) == []
