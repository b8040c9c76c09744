"""Grading one submission at a time in a private course directory.

Each worker process has its own nbgrader course directory and its own copy of the
gradebook (SQLite allows one writer at a time, so workers never share one). It runs
nbgrader's own autograde and generate_feedback there and sends back plain data; only
the parent process writes to the instructor's gradebook (see ``merge``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import traceback
import warnings
from pathlib import Path

from . import course, feedback, layout, sandbox, scan, timing
from .execute import INTEGRITY, TIME_BUDGET

# error names our Execute writes when a kernel dies or hangs (see execute.py)
KERNEL_TROUBLE = {
    "KernelDied": "the kernel died",
    "KernelUnresponsive": "the kernel hung",
    "CellTimeoutError": "a cell ran past the time limit",
    "GradingIntegrityError": "GradingIntegrityError (flagged for review)",
    TIME_BUDGET: "stopped for time",
}


class Worker:
    def __init__(self, setup: dict):
        from nbgrader.apps import NbGraderAPI

        course.prepare_environment()
        if "kernel_threads" in setup:  # the sandbox passes OMP_NUM_THREADS on; an instructor's own value stays
            os.environ.setdefault("OMP_NUM_THREADS", str(setup["kernel_threads"]))
        self.assignment = setup["assignment"]
        self.root = Path(setup["workdir"])
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = self.root / "gradebook.db"
        shutil.copy2(setup["template_db"], self.db)
        config = course.load_config(Path(setup["course_dir"]))
        self.course_id = config.CourseDirectory.course_id
        config.CourseDirectory.source_directory = str(course.source_dir(config).resolve())
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.db_url = f"sqlite:///{self.db}"
        self.limits = setup.get("limits")  # None: the flat cell limit only (see grading.limits_for)
        config.Execute.timeout = setup["cell_timeout"]
        self.feedback = setup["feedback"]
        feedback.configure(config, setup.get("feedback_detail", "results"))
        if self.feedback:
            cache_feedback_templates()
        self.api = NbGraderAPI(config=config)
        self.sandbox = None
        if not setup.get("unsafe"):
            slot = f"worker-{setup.get('index', 0)}-{os.getpid()}"
            limits = sandbox.Limits(memory_bytes=setup.get("memory_bytes", sandbox.Limits.memory_bytes))
            self.sandbox = sandbox.Sandbox(uid=setup["uid"], gpus=setup.get("gpus"), limits=limits)
            self.sandbox.cgroups = sandbox.make_cgroups(slot, self.sandbox.limits)
        sandbox.CURRENT = self.sandbox

    def close(self) -> None:
        if self.sandbox is not None:
            sandbox.kill_uid(self.sandbox.uid)
            sandbox.remove_cgroups(self.sandbox.cgroups)

    def dirs(self, student: str) -> dict[str, Path]:
        return {step: self.root / step / student / self.assignment for step in ("submitted", "autograded", "feedback")}

    def grade(self, task: dict) -> dict:
        student, expected = task["student"], task["notebooks"]
        sub = layout.Submission(student, Path(task["folder"]) if task["folder"] else None, list(task["problems"]))
        result = {"student": student, "status": "graded", "notes": sub.problems, "timing": {}, "worker": str(self.root)}
        # the last submission's folders: already merged by the parent (it merges each result
        # before it sends the next task), so only in the way of this one (and of the disk)
        for step in ("submitted", "autograded", "feedback", "run"):
            if (self.root / step).exists():
                shutil.rmtree(self.root / step)
        t = time.perf_counter()
        staged = layout.stage(sub, expected, self.dirs(student)["submitted"]) if not sub.problems else []
        result["timing"]["stage_s"] = time.perf_counter() - t
        if not staged:
            result["status"] = "missing"
            return result
        result["review"] = scan.scan_folder(self.dirs(student)["submitted"])
        if self.limits:  # scaled to this machine's load now (and its GPUs): see timing.scaled_limits
            cell_s, budget_s = timing.scaled_limits(self.limits)
            self.api.config.Execute.timeout = cell_s
            self.api.config.RobustExecute.time_budget = budget_s
            result["limits"] = {"cell_s": cell_s, "budget_s": budget_s}
        t = time.perf_counter()
        try:
            outcome = self.api.autograde(self.assignment, student, force=True, create=True)
        finally:
            if self.sandbox is not None:  # nothing of this submission outlives it
                sandbox.kill_uid(self.sandbox.uid)
        result["timing"]["autograde_s"] = time.perf_counter() - t
        if not outcome["success"]:
            result["status"] = "error"
            log = outcome.get("log") or ""
            result["notes"].append(
                "nbgrader could not autograde this submission: "
                + _last_error(log + "\n" + (outcome.get("error") or ""))
            )
            result["error_log"] = log[-6000:]  # the whole story for report.json: which cell, which file
            return result
        result.update(self.read_grades(student))
        result["notes"] += self.kernel_notes(student)
        result["review"] += [n for n in result["notes"] if INTEGRITY in n]
        result["autograded"] = str(self.dirs(student)["autograded"])
        if self.feedback:
            t = time.perf_counter()
            made = self.api.generate_feedback(self.assignment, student, force=True)
            result["timing"]["feedback_s"] = time.perf_counter() - t
            if made["success"]:
                result["feedback"] = str(self.dirs(student)["feedback"])
            else:
                result["notes"].append(
                    "feedback could not be generated: " + _last_error(made.get("error") or made.get("log") or "")
                )
        return result

    def read_grades(self, student: str) -> dict:
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{self.db}", self.course_id) as gb:
            sub = gb.find_submission(self.assignment, student)
            notebooks = {}
            for nb in sub.notebooks:
                notebooks[nb.name] = {
                    "late_penalty": nb.late_submission_penalty,
                    "grades": {
                        g.name: {"auto_score": g.auto_score, "needs_manual_grade": bool(g.needs_manual_grade)}
                        for g in nb.grades
                    },
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                }
            stamp = sub.timestamp.isoformat() if sub.timestamp else None
        return {"notebooks": notebooks, "timestamp": stamp}

    def kernel_notes(self, student: str) -> list[str]:
        """Say in the report where a kernel died or hung, which the scores alone do not show."""
        import nbformat

        notes = []
        for path in sorted(self.dirs(student)["autograded"].glob("*.ipynb")):
            for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
                names = {output.get("ename") for output in cell.get("outputs", [])}
                for output in cell.get("outputs", []):
                    why = KERNEL_TROUBLE.get(output.get("ename"))
                    if output.get("ename") == "CellTimeoutError" and TIME_BUDGET in names:
                        continue  # the budget's note below says it all
                    if output.get("ename") == TIME_BUDGET:
                        where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
                        notes.append(
                            f"{path.name}: {why} in {where}: {output.get('evalue', '')} "
                            "The cells after it were not run."
                        )
                    elif output.get("ename") == INTEGRITY:
                        where = cell.metadata.get("nbgrader", {}).get("grade_id") or "the whole run"
                        notes.append(f"{path.name}: {why} in {where}: {output.get('evalue', '')[:300]}")
                    elif why:
                        where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
                        notes.append(
                            f"{path.name}: {why} in {where}; cells after it were "
                            + ("not run" if output["ename"] != "CellTimeoutError" else "still run")
                        )
        return notes


def cache_feedback_templates() -> None:
    """Compile nbgrader's feedback templates once per worker, not once per student.

    nbconvert builds a new Jinja environment for every export and so recompiles the same
    templates every time (about half of a feedback page's cost). A Jinja bytecode cache
    shared by those environments, keyed by template name and source checksum, skips that;
    the pages are unchanged.
    """
    import jinja2
    from nbconvert.exporters.templateexporter import TemplateExporter

    if getattr(TemplateExporter, "_course_grading_cached", False):
        return

    class MemoryBytecodeCache(jinja2.BytecodeCache):
        def __init__(self):
            self.store: dict[str, bytes] = {}

        def load_bytecode(self, bucket):
            if bucket.key in self.store:
                bucket.bytecode_from_string(self.store[bucket.key])

        def dump_bytecode(self, bucket):
            self.store[bucket.key] = bucket.bytecode_to_string()

    cache, create = MemoryBytecodeCache(), TemplateExporter._create_environment

    def create_with_cache(self):
        environment = create(self)
        environment.bytecode_cache = cache
        return environment

    # patching nbconvert's class is the point (it has no hook for a bytecode cache)
    TemplateExporter._create_environment = create_with_cache  # type: ignore[method-assign]
    TemplateExporter._course_grading_cached = True  # type: ignore[attr-defined]  # our marker, read by getattr


def quiet_nbgrader() -> None:
    """nbgrader's gradebook code makes SQLAlchemy warn on every new submission (harmless,
    known upstream); a run over 30 students would print 90 of them."""
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)


def _last_error(text: str) -> str:
    """The line naming the real exception (nbgrader's own last lines only say "see above")."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # an exception's last line: `module.Name: message` (NoSuchKernel, TimeoutError, OSError...)
    causes = [
        line for line in lines if re.match(r"^(?:[a-z_]\w*\.)*[A-Z]\w*: \S", line) and "NbGraderException" not in line
    ]
    if causes:
        return causes[-1][:600]
    return " | ".join(lines[-3:])[-600:] if lines else "no details"


def serve(conn, setup: dict) -> None:
    """A worker process: set up, then grade each task the parent sends until told to stop."""
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints where a stuck worker is
    quiet_nbgrader()
    try:
        worker = Worker(setup)
    except Exception:
        conn.send({"fatal": traceback.format_exc()})
        return
    conn.send({"ready": True})
    try:
        _loop(conn, worker)
    finally:
        worker.close()


def _loop(conn, worker: Worker) -> None:
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent went away
            return
        if task is None:
            return
        start = time.perf_counter()
        try:
            result = worker.grade(task)
        except Exception:  # one submission must never take the worker (or the run) down
            result = {
                "student": task["student"],
                "status": "error",
                "timing": {},
                "notes": [*task["problems"], "grading failed: " + _last_error(traceback.format_exc())],
            }
        result["timing"]["worker_s"] = time.perf_counter() - start
        conn.send(result)
