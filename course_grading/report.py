"""The grading run's outputs: grades CSV, a JSON record and the table printed at the end.

Every file is written atomically (a temporary file in the same folder, fsync, rename), so
a run that is killed leaves the previous complete file, never half of one. The CSV keeps
the rows of students this run did not grade (an empty or partial run never drops grades).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from .course import AssignmentInfo


def atomic_write(path: Path, data: str | bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def columns(info: AssignmentInfo) -> list[str]:
    return [
        "student_id",
        "assignment",
        "status",
        "score",
        "max_score",
        "needs_manual_grade",
        *[c.column for c in info.cells],
        "review",
        "seconds",
        "notes",
    ]


def previous_rows(path: Path) -> dict[str, dict]:
    """The rows of an earlier grades.csv, by student (none if there is no readable one)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return {r["student_id"]: r for r in csv.DictReader(f) if r.get("student_id")}
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return {}


def write_csv(path: Path, info: AssignmentInfo, rows: list[dict]) -> None:
    """One line per student: status, total, each graded part (blank: waits for a person),
    whether a person should look at it (review), notes. Rows already in ``path`` for
    students not in ``rows`` are kept as they are."""
    cols = columns(info)
    merged = {sid: {k: v for k, v in row.items() if k in cols} for sid, row in previous_rows(path).items()}
    for row in rows:
        cells = row.get("cells", {})
        merged[row["student"]] = dict(
            zip(
                cols,
                [
                    row["student"],
                    info.name,
                    row["status"],
                    _num(row.get("score")),
                    _num(info.max_score),
                    "" if row.get("score") is None else int(row.get("needs_manual_grade", False)),
                    *[_num(cells.get(c.column)) for c in info.cells],
                    " | ".join(row.get("review", [])),
                    f"{row.get('seconds', 0):.2f}",
                    " | ".join(row.get("notes", [])),
                ],
                strict=True,
            )
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=cols, restval="", extrasaction="ignore")
    writer.writeheader()
    for sid in sorted(merged):
        writer.writerow(merged[sid])
    atomic_write(path, out.getvalue())


def _num(value) -> str:
    return "" if value is None else f"{value:g}"


def write_json(path: Path, record: dict) -> None:
    atomic_write(path, json.dumps(record, indent=1, sort_keys=False) + "\n")


def table(info: AssignmentInfo, rows: list[dict], timing: dict) -> str:
    width = max([len("student"), *(len(r["student"]) for r in rows)])
    lines = [
        f"{info.name}: {len(rows)} submission(s), {timing['workers']} worker(s)",
        f"{'student':<{width}}  {'status':<8}{'score':>12}{'seconds':>9}  notes",
    ]
    for row in rows:
        score = "" if row.get("score") is None else f"{row['score']:g}/{info.max_score:g}"
        if row.get("needs_manual_grade"):
            score += "*"
        if row.get("review"):
            score += "!"
        notes = [*row.get("review", []), *row.get("notes", [])]
        note = notes[0] if notes else ""
        more = f" (+{len(notes) - 1} more)" if len(notes) > 1 else ""
        lines.append(
            f"{row['student']:<{width}}  {row['status']:<8}{score:>12}{row.get('seconds', 0):>9.1f}  {note[:110]}{more}"
        )
    if any(r.get("needs_manual_grade") for r in rows):
        lines.append("* parts wait for manual grading (formgrader), then run `nbgrader generate_feedback` again")
    if any(r.get("review") for r in rows):
        lines.append(
            "! flagged for review: the submission reached for the grader's internals (see the review "
            "column of grades.csv and docs/grading-security.md)"
        )
    lines.append(
        f"setup {timing['setup_s']:.1f} s, grading {timing['grading_s']:.1f} s wall, "
        f"{timing['per_submission_s']:.2f} s per submission "
        f"(one submission takes {timing['mean_worker_s']:.1f} s on a worker: autograde "
        f"{timing['mean_autograde_s']:.1f} s, feedback {timing['mean_feedback_s']:.1f} s)"
    )
    return "\n".join(lines)
