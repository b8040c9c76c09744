"""The syllabus's timetables add up: each block starts when the previous one ends, the workshop
fills 3 hours, the day ends at 17:00, and every notebook is taught in the 1-day path."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYLLABUS = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")


def _table(heading: str) -> list[list[str]]:
    section = SYLLABUS.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"^\| *\d+:\d\d *\|", line)]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _check_contiguous(rows: list[list[str]]) -> int:
    """Each start = previous start + previous minutes; returns the end time in minutes."""
    for (start, *_, length), (next_start, *_rest) in pairwise(rows):
        assert _minutes(start) + int(length) == _minutes(next_start), f"{start} + {length} min != {next_start}"
    return _minutes(rows[-1][0]) + int(rows[-1][-1])


def test_the_three_hour_workshop_is_three_hours():
    rows = _table("## The 3-hour workshop")
    assert _minutes(rows[0][0]) == 0
    assert _check_contiguous(rows) == 180


def test_the_one_day_course_runs_9_to_17_and_teaches_every_notebook():
    rows = _table("## The 1-day course")
    assert rows[0][0] == "9:00" and _check_contiguous(rows) == 17 * 60
    taught = {m for row in rows for m in re.findall(r"`(\d\d_[a-z_]+)`", row[2])}
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert taught == notebooks
    teaching = sum(int(r[-1]) for r in rows if "Break" not in r[1] and "Lunch" not in r[1])
    assert f"{teaching // 60} h {teaching % 60} min of teaching" in SYLLABUS
