"""The class's grades, read from nbgrader's gradebook (the source of truth), one row per student
and assignment.

    course-export                                   # every assignment -> grading-reports/gradebook.csv
    course-export multi_gpu_training --student ada  # update ada's row only, keep the others
    course-export --format json                     # to standard output, for scripts

Each row carries the automatic and the manual points of every graded part, the total as
nbgrader computes it (a manual score replaces the automatic one), and ``awaiting_manual_grade``:
parts a person has not graded yet, or graded before the student resubmitted (nbgrader keeps the
earlier manual score and asks for a review; the row says which parts). A student who submitted
nothing has status ``missing``. The CSV is replaced atomically; with ``--student`` only those
students' rows are rewritten and every other row is kept as it was in the file.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

FIXED = [
    "student",
    "assignment",
    "status",
    "score",
    "max_score",
    "auto_score",
    "manual_score",
    "awaiting_manual_grade",
    "review",
    "timestamp",
]
DEFAULT_OUT = Path("grading-reports") / "gradebook.csv"


def _num(value):
    return None if value is None else round(float(value), 4)


def rows_from_gradebook(
    db_url: str, course_id: str, assignments: list[str] | None = None, students: list[str] | None = None
) -> list[dict]:
    """One dict per (student, assignment): totals, each part's points (``NOTEBOOK:CELL``), flags."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(db_url, course_id) as gb:
        names = assignments or [a.name for a in gb.assignments]
        for name in names:
            try:
                assignment = gb.find_assignment(name)
            except MissingEntry:
                raise ValueError(
                    f"no assignment {name!r} in the gradebook; known: {[a.name for a in gb.assignments]}"
                ) from None
            parts = [
                (nb.name, cell.name, float(cell.max_score)) for nb in assignment.notebooks for cell in nb.grade_cells
            ]
            max_score = sum(p[2] for p in parts)
            for student in sorted(s.id for s in gb.students):
                if students and student not in students:
                    continue
                rows.append(_row(gb, name, student, parts, max_score))
    return rows


def _row(gb, assignment: str, student: str, parts, max_score: float) -> dict:
    from nbgrader.api import MissingEntry

    row = {"student": student, "assignment": assignment, "max_score": max_score}
    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        row.update(
            status="missing",
            score=0.0,
            auto_score=None,
            manual_score=None,
            awaiting_manual_grade="",
            review="",
            timestamp="",
        )
        row.update({f"{nb}:{cell}": None for nb, cell, _ in parts})
        return row
    awaiting, review, auto_total, manual_total = [], [], 0.0, 0.0
    for nb, cell, _ in parts:
        grade = gb.find_grade(cell, nb, assignment, student)
        row[f"{nb}:{cell}"] = _num(grade.score)
        auto_total += grade.auto_score or 0.0
        manual_total += grade.manual_score or 0.0
        if grade.needs_manual_grade:
            if grade.manual_score is None:
                awaiting.append(cell)  # nobody has graded it yet
            else:
                review.append(f"{cell} (kept {grade.manual_score:g} from before a resubmission)")
    row.update(
        status="graded" if not awaiting else "partly graded",
        score=_num(submission.score),
        auto_score=_num(auto_total),
        manual_score=_num(manual_total),
        awaiting_manual_grade=" ".join(awaiting),
        review="; ".join(review),
        timestamp=submission.timestamp.isoformat() if submission.timestamp else "",
    )
    return row


def merge(
    existing: list[dict], fresh: list[dict], students: list[str] | None, assignments: list[str] | None
) -> list[dict]:
    """The file's rows with those in scope (these students, these assignments) replaced by fresh ones."""

    def in_scope(row):
        return (not students or row["student"] in students) and (not assignments or row["assignment"] in assignments)

    kept = [row for row in existing if not in_scope(row)]
    return sorted(kept + fresh, key=lambda r: (r["assignment"], r["student"]))


def read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict]) -> None:
    """All columns of all rows (parts of every assignment), written to a temporary file and moved
    into place: a reader never sees half a report, a crash leaves the old one."""
    columns = list(FIXED)
    for row in rows:
        columns += [k for k in row if k not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _course(course_dir: Path):
    from traitlets.config.loader import PyFileConfigLoader

    if not (course_dir / "nbgrader_config.py").exists():
        raise FileNotFoundError(
            f"no nbgrader_config.py in {course_dir}: run from the course directory or pass --course-dir"
        )
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    db_url = config.CourseDirectory.get("db_url") or f"sqlite:///{course_dir / 'gradebook.db'}"
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).exists():
        raise FileNotFoundError(f"no gradebook at {db_url[len('sqlite:///') :]}: grade something first")
    return db_url, config.CourseDirectory.get("course_id", "default_course")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="assignments to export (default: all in the gradebook)")
    parser.add_argument(
        "--student",
        action="append",
        dest="students",
        metavar="ID",
        help="export only this student (repeatable); the file's other rows are kept",
    )
    parser.add_argument("--course-dir", type=Path, default=Path.cwd())
    parser.add_argument("--out", type=Path, help=f"CSV file (default: COURSE_DIR/{DEFAULT_OUT})")
    parser.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="json: print the rows to standard output instead of writing the CSV",
    )
    args = parser.parse_args(argv)
    try:
        db_url, course_id = _course(args.course_dir.resolve())
        rows = rows_from_gradebook(db_url, course_id, args.assignments or None, args.students)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    out = args.out or args.course_dir / DEFAULT_OUT
    merged = merge(read_csv(out), rows, args.students, args.assignments or None) if args.students else rows
    write_csv(out, merged)
    waiting = [f"{r['student']}/{r['assignment']}" for r in rows if r.get("awaiting_manual_grade") or r.get("review")]
    print(f"wrote {len(rows)} row(s) to {out}" + (f" ({len(merged)} in the file)" if args.students else ""))
    if waiting:
        print(
            f"{len(waiting)} wait for a person (formgrader): {', '.join(waiting[:10])}"
            + (" ..." if len(waiting) > 10 else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
