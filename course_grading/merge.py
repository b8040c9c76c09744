"""Writing one graded submission into the instructor's gradebook and course folders.

Only the parent process calls this, one result at a time, so the SQLite gradebook
has a single writer. A result touches only its own student's rows and folders; a
submission that could not be graded (status "error") touches nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from nbgrader.api import Gradebook

from .course import AssignmentInfo, db_path


def merge(config, info: AssignmentInfo, result: dict, original: Path | None) -> None:
    if result["status"] == "error":
        return
    student = result["student"]
    notebooks = result.get("notebooks", {})
    with Gradebook(f"sqlite:///{db_path(config)}", config.CourseDirectory.course_id) as gb:
        gb.update_or_create_student(student)
        extra = {"timestamp": result["timestamp"]} if result.get("timestamp") else {}
        gb.update_or_create_submission(info.name, student, **extra)
        for cell in info.cells:
            grade = gb.find_grade(cell.name, cell.notebook, info.name, student)
            got = notebooks.get(cell.notebook, {}).get("grades", {}).get(cell.name)
            if got is None:  # the notebook was missing or unreadable: zero, as nbgrader scores a missing one
                grade.auto_score, grade.needs_manual_grade = 0.0, False
            else:
                grade.auto_score = got["auto_score"]
                # as nbgrader's SaveAutoGrades: a person looks again if they graded it before
                grade.needs_manual_grade = grade.manual_score is not None or got["auto_score"] is None
        for name, nb in notebooks.items():
            submitted = gb.find_submission_notebook(name, info.name, student)
            submitted.late_submission_penalty = nb.get("late_penalty")
            for comment in submitted.comments:
                if comment.name in nb.get("comments", {}):
                    comment.auto_comment = nb["comments"][comment.name]
        gb.db.commit()
    root = Path(config.CourseDirectory.root)
    for step, key in (("autograded", "autograded"), ("feedback", "feedback")):
        target = root / step / student / info.name
        if result.get(key):
            replace_tree(Path(result[key]), target)
        elif target.exists():
            shutil.rmtree(target)
    if original is not None:  # keep nbgrader's layout: the submission as received, under submitted/
        target = root / "submitted" / student / info.name
        if not target.exists() or target.resolve() != original.resolve():
            replace_tree(original, target)


def replace_tree(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source``'s plain files and folders (links, devices and
    checkpoints left out), swapped in by a rename so that it is never half written."""
    fresh = target.with_name(f".{target.name}.new")
    old = target.with_name(f".{target.name}.old")
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    fresh.mkdir(parents=True)
    for root, dirs, files in os.walk(source, followlinks=False):
        rel = Path(root).relative_to(source)
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints" and not (Path(root) / d).is_symlink()]
        for d in dirs:
            (fresh / rel / d).mkdir()
        for name in files:
            path = Path(root) / name
            if stat.S_ISREG(path.lstat().st_mode):
                shutil.copy2(path, fresh / rel / name, follow_symlinks=False)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    if old.exists():
        shutil.rmtree(old)


def read_back(config, info: AssignmentInfo, student: str) -> dict:
    """The student's scores as the gradebook holds them now (manual scores included)."""
    with Gradebook(f"sqlite:///{db_path(config)}", config.CourseDirectory.course_id) as gb:
        sub = gb.find_submission(info.name, student)
        cells = {}
        for cell in info.cells:
            grade = gb.find_grade(cell.name, cell.notebook, info.name, student)
            cells[cell.column] = None if grade.needs_manual_grade else grade.score
        auto = sum(cells[c.column] or 0.0 for c in info.cells if not c.manual)
        return {
            "score": sub.score,
            "max_score": sub.max_score,
            "auto_score": auto,
            "needs_manual_grade": bool(sub.needs_manual_grade),
            "late_penalty": sub.late_submission_penalty or 0.0,
            "cells": cells,
        }
