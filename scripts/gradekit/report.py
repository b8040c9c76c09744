"""The grading run's outputs: grades CSV, a JSON record and the table printed at the end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .course import AssignmentInfo


def write_csv(path: Path, info: AssignmentInfo, rows: list[dict]) -> None:
    """One line per student: status, total, each graded part (blank: waits for a person), notes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["student", "assignment", "status", "score", "max_score", "needs_manual_grade",
               *[c.column for c in info.cells], "seconds", "notes"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            cells = row.get("cells", {})
            writer.writerow([row["student"], info.name, row["status"], _num(row.get("score")), _num(info.max_score),
                             "" if row.get("score") is None else int(row.get("needs_manual_grade", False)),
                             *[_num(cells.get(c.column)) for c in info.cells],
                             f"{row.get('seconds', 0):.2f}", " | ".join(row.get("notes", []))])


def _num(value) -> str:
    return "" if value is None else f"{value:g}"


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")


def table(info: AssignmentInfo, rows: list[dict], timing: dict) -> str:
    width = max([len("student"), *(len(r["student"]) for r in rows)])
    lines = [f"{info.name}: {len(rows)} submission(s), {timing['workers']} worker(s)",
             f"{'student':<{width}}  {'status':<8}{'score':>12}{'seconds':>9}  notes"]
    for row in rows:
        score = "" if row.get("score") is None else f"{row['score']:g}/{info.max_score:g}"
        if row.get("needs_manual_grade"):
            score += "*"
        note = row["notes"][0] if row.get("notes") else ""
        more = f" (+{len(row['notes']) - 1} more)" if len(row.get("notes", [])) > 1 else ""
        lines.append(f"{row['student']:<{width}}  {row['status']:<8}{score:>12}{row.get('seconds', 0):>9.1f}  "
                     f"{note[:110]}{more}")
    if any(r.get("needs_manual_grade") for r in rows):
        lines.append("* parts wait for manual grading (formgrader), then run `nbgrader generate_feedback` again")
    lines.append(f"setup {timing['setup_s']:.1f} s, grading {timing['grading_s']:.1f} s wall, "
                 f"{timing['per_submission_s']:.2f} s per submission "
                 f"(one submission takes {timing['mean_worker_s']:.1f} s on a worker: autograde "
                 f"{timing['mean_autograde_s']:.1f} s, feedback {timing['mean_feedback_s']:.1f} s)")
    return "\n".join(lines)
