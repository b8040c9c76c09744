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
import os
import re
import shutil
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
MAX_FILE_BYTES = 50 << 20  # one file of a submission (a notebook with plots is a few MB)
MAX_TOTAL_BYTES = 200 << 20  # a whole submission, unpacked
MAX_FILES = 500


@dataclass
class Submission:
    student: str
    folder: Path | None  # where the student's files are; None if there is nothing to grade
    problems: list[str] = field(default_factory=list)


def bad_student_id(student: str) -> str | None:
    if STUDENT_ID.match(student):
        return None
    return (
        f"{student!r} is not a usable student id (letters, digits and _ . @ - only, no spaces); "
        "rename the folder and grade again"
    )


def discover(
    submissions: Path, assignment: str, students: list[str] | None = None, unpack_to: Path | None = None
) -> list[Submission]:
    """One :class:`Submission` per student folder (or ``STUDENT.zip``) of ``submissions``, sorted
    by id. Nothing is followed: a student folder that is a symbolic link is refused, and a
    zip is unpacked (into ``unpack_to``) only if it is small and holds plain files."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions}")
    found = []
    for entry in sorted(submissions.iterdir()):
        student = entry.name[:-4] if entry.name.endswith(".zip") else entry.name
        if entry.name.startswith(".") or (students and student not in students):
            continue
        if entry.is_symlink():
            found.append(
                Submission(
                    student,
                    None,
                    [
                        f"{entry.name} is a symbolic link (to {os.readlink(entry)}): "
                        "refused, links are never followed; put the student's own files "
                        "there and grade again"
                    ],
                )
            )
            continue
        if entry.name.endswith(".zip") and entry.is_file() and unpack_to is not None:
            found.append(unpack(entry, student, Path(unpack_to) / student, assignment))
            continue
        if not entry.is_dir():
            continue
        nested = entry / assignment
        if nested.is_symlink():
            found.append(Submission(student, None, [f"{student}/{assignment} is a symbolic link: refused"]))
            continue
        folder = nested if nested.is_dir() else entry
        found.append(Submission(entry.name, folder))
    if students:
        missing = sorted(set(students) - {s.student for s in found})
        found += [Submission(s, None, [f"no folder for {s!r} in {submissions}"]) for s in missing]
    return found


def unpack(archive: Path, student: str, dest: Path, assignment: str) -> Submission:
    """A student's zip, unpacked if it holds at most MAX_FILES plain files of MAX_TOTAL_BYTES."""

    def refused(why: str) -> Submission:
        return Submission(student, None, [f"{archive.name}: {why}: refused (0 points); ask for the notebook itself"])

    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_FILES:
                return refused(f"{len(infos)} entries, more than {MAX_FILES}")
            total = sum(i.file_size for i in infos)
            if total > MAX_TOTAL_BYTES:
                return refused(f"unpacks to {total / 2**20:.0f} MiB, more than {MAX_TOTAL_BYTES >> 20} MiB")
            for info in infos:
                parts = Path(info.filename).parts
                mode = info.external_attr >> 16
                if info.filename.startswith("/") or ".." in parts:
                    return refused(f"entry {info.filename!r} points outside the archive")
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no type recorded
                    return refused(f"entry {info.filename!r} is a link or a special file")
            dest.mkdir(parents=True, exist_ok=True)
            written = 0
            for info in infos:
                target = dest / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while block := src.read(1 << 20):  # the sizes in the directory may lie: count
                        written += len(block)
                        if written > MAX_TOTAL_BYTES:
                            shutil.rmtree(dest, ignore_errors=True)
                            return refused(f"unpacks to more than {MAX_TOTAL_BYTES >> 20} MiB")
                        out.write(block)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return refused(f"not a readable zip ({exc})")
    nested = dest / assignment
    return Submission(student, nested if nested.is_dir() else dest)


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
    staged: list[str] = []
    unknown: list[str] = []
    broken: set[str] = set()
    total = 0
    for path in _walk(sub.folder):
        rel = path.relative_to(sub.folder)
        if any(part.startswith(".ipynb_checkpoints") for part in rel.parts):
            continue
        info = path.lstat()
        problem = None
        if stat.S_ISLNK(info.st_mode):
            problem = f"{rel} is a symbolic link (to {os.readlink(path)}): refused, links are never followed"
        elif stat.S_ISDIR(info.st_mode):
            continue
        elif not stat.S_ISREG(info.st_mode):
            problem = f"{rel} is not a regular file (a device, pipe or socket): refused"
        elif info.st_size > MAX_FILE_BYTES:
            problem = f"{rel} is {info.st_size / 2**20:.0f} MiB, more than {MAX_FILE_BYTES >> 20} MiB: refused"
        elif total + info.st_size > MAX_TOTAL_BYTES or len(staged) + len(unknown) > MAX_FILES:
            problem = f"{rel}: the submission is larger than {MAX_TOTAL_BYTES >> 20} MiB or {MAX_FILES} files: refused"
        if problem:
            if path.suffix == ".ipynb" and len(rel.parts) == 1 and path.stem in expected:
                broken.add(path.stem)
                problem += " (graded as missing, 0 points)"
            sub.problems.append(problem)
            continue
        total += info.st_size
        if path.suffix == ".ipynb" and len(rel.parts) == 1:
            if path.stem not in expected:
                unknown.append(path.name)
                continue
            problem = notebook_problem(path)
            if problem:
                broken.add(path.stem)
                sub.problems.append(
                    f"{problem}: graded as missing (0 points). Repair it or ask for a "
                    f"new copy, then grade this student again"
                )
                continue
            staged.append(path.stem)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_regular(path, target)
    for name in expected:
        if name not in staged and name not in broken:
            hint = ""
            if unknown:
                hint = (
                    f"; found {', '.join(unknown)} instead: if that is the answer, rename it to "
                    f"{name}.ipynb and grade this student again"
                )
            sub.problems.append(f"{name}.ipynb was not submitted: 0 points{hint}")
    return staged


def _walk(folder: Path):
    """Every entry below ``folder``, without entering symbolic links to folders."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            yield Path(root) / name


def _copy_regular(src: Path, dest: Path) -> None:
    """Copy a file that is regular when opened (O_NOFOLLOW: swapped for a link meanwhile, it fails)."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f"{src} is not a regular file")
        with open(dest, "wb") as out:
            shutil.copyfileobj(f, out, length=1 << 20)
