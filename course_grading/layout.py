"""Finding submissions in a folder and checking them before nbgrader sees them.

A submissions folder holds one folder per student, either in nbgrader's layout
(``STUDENT/ASSIGNMENT/*.ipynb``, as ``nbgrader collect`` or the exchange leaves it)
or flat (``STUDENT/*.ipynb``, as an LMS download unpacks). A notebook that is not
valid JSON, or that has a name the assignment does not expect, is left out with a
message saying what to do; nbgrader then scores it as missing (zero) instead of
failing the whole submission.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


@dataclass
class Submission:
    student: str
    folder: Path | None  # where the student's files are; None if there is nothing to grade
    problems: list[str] = field(default_factory=list)


def bad_student_id(student: str) -> str | None:
    if STUDENT_ID.match(student):
        return None
    return (f"{student!r} is not a usable student id (letters, digits and _ . @ - only, no spaces); "
            "rename the folder and grade again")


def discover(submissions: Path, assignment: str, students: list[str] | None = None) -> list[Submission]:
    """One :class:`Submission` per student folder of ``submissions`` (sorted by id)."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions}")
    found = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if students and entry.name not in students:
            continue
        nested = entry / assignment
        folder = nested if nested.is_dir() else entry
        found.append(Submission(entry.name, folder))
    if students:
        missing = sorted(set(students) - {s.student for s in found})
        found += [Submission(s, None, [f"no folder for {s!r} in {submissions}"]) for s in missing]
    return found


def notebook_problem(path: Path) -> str | None:
    """Why ``path`` cannot be graded as a notebook, or None if it can."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return f"{path.name} is not text ({exc.reason})"
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"{path.name} is not valid notebook JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    try:
        with warnings.catch_warnings():  # old notebooks without cell ids warn, and still grade fine
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.reads(raw, as_version=4))
    except Exception as exc:  # nbformat raises several kinds for a damaged notebook
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{path.name} is not a valid notebook ({first[:160]})"
    return None


def stage(sub: Submission, expected: list[str], dest: Path) -> list[str]:
    """Copy what can be graded of ``sub`` into ``dest`` (a fresh nbgrader submitted folder).

    Returns the notebooks staged; problems are appended to ``sub.problems``.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if sub.folder is None:
        return []
    staged, unknown, broken = [], [], set()
    for path in sorted(sub.folder.rglob("*")):
        rel = path.relative_to(sub.folder)
        if not path.is_file() or any(part.startswith(".ipynb_checkpoints") for part in rel.parts):
            continue
        if path.suffix == ".ipynb" and len(rel.parts) == 1:
            if path.stem not in expected:
                unknown.append(path.name)
                continue
            problem = notebook_problem(path)
            if problem:
                broken.add(path.stem)
                sub.problems.append(f"{problem}: graded as missing (0 points). Repair it or ask for a "
                                    f"new copy, then grade this student again")
                continue
            staged.append(path.stem)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for name in expected:
        if name not in staged and name not in broken:
            hint = ""
            if unknown:
                hint = (f"; found {', '.join(unknown)} instead: if that is the answer, rename it to "
                        f"{name}.ipynb and grade this student again")
            sub.problems.append(f"{name}.ipynb was not submitted: 0 points{hint}")
    return staged
