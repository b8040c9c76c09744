"""Per-student results, written as each one is merged, so a run can be resumed.

``OUT/journal/STUDENT.json`` holds the report row and a digest of the submission it
came from. ``--resume`` keeps the rows whose submission has not changed since; the
gradebook already holds their grades (merged one student at a time).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .report import atomic_write


def digest(folder: Path | None) -> str | None:
    """A hash of the regular files of a submission (names and contents)."""
    if folder is None:
        return None
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                h.update(f"special:{path.relative_to(folder)}".encode())
                continue
            h.update(str(path.relative_to(folder)).encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def record(out: Path, row: dict, submission_digest: str | None) -> None:
    atomic_write(
        Path(out) / "journal" / f"{row['student']}.json",
        json.dumps({"digest": submission_digest, "row": row}, indent=1),
    )


def load(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted((Path(out) / "journal").glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            found[entry["row"]["student"]] = entry
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found
