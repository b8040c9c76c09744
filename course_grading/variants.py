"""Submissions made from an assignment's own notebooks: the right answer, the untouched
release, and the broken or hostile kinds a grader must survive. Used by the tests,
the self-test and the benchmark."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")

# What each hostile kind adds to the start of a solution cell.
SYS_EXIT = "import sys\nsys.exit('giving up')\n"
OS_EXIT = "import os\nos._exit(3)\n"
SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
BUSY_LOOP = "while True:\n    pass\n"
STUBBORN_LOOP = (
    "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass\n"
)


def _nb_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def cells_of(nb, kind: str) -> list:
    """``kind``: "solution" (cells the learner writes), "test" (autograded tests) or "locked"."""
    out = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if kind == "solution" and meta.get("solution") and cell.cell_type == "code":
            out.append(cell)
        elif kind == "test" and meta.get("grade") and not meta.get("solution"):
            out.append(cell)
        elif kind == "locked" and meta.get("locked"):
            out.append(cell)
    return out


def cell(nb, grade_id: str):
    for c in nb.cells:
        if _nb_id(c) == grade_id:
            return c
    raise KeyError(f"no cell {grade_id!r}")


def perfect(source, release):
    """The release with every answer written as the source's solution (markers removed):
    what a learner who got everything right submits."""
    nb = copy.deepcopy(release)
    answers = {_nb_id(c): c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for c in nb.cells:
        grade_id = _nb_id(c)
        if c.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            c.source = "\n".join(line for line in answers[grade_id].splitlines() if not MARKERS.match(line))
    return nb


def prepend(nb, grade_id: str, code: str):
    nb = copy.deepcopy(nb)
    target = cell(nb, grade_id)
    lines = target.source.splitlines(keepends=True)
    at = 1 if lines and lines[0].startswith("%%") else 0  # after a cell magic such as %%writefile
    target.source = "".join(lines[:at]) + code + "".join(lines[at:])
    return nb


def replace(nb, grade_id: str, old: str, new: str):
    nb = copy.deepcopy(nb)
    target = cell(nb, grade_id)
    if old not in target.source:
        raise ValueError(f"{old!r} not in cell {grade_id}")
    target.source = target.source.replace(old, new)
    return nb


def stub(nb, release, grade_id: str):
    """Put one answer back to the release's stub: that part is not done."""
    nb = copy.deepcopy(nb)
    cell(nb, grade_id).source = cell(release, grade_id).source
    return nb


def edit_tests(nb, new_source: str = "pass"):
    """Overwrite every locked test cell (nbgrader must put the real tests back)."""
    nb = copy.deepcopy(nb)
    for c in cells_of(nb, "test"):
        c.source = new_source
    return nb


def delete_tests(nb):
    """Delete every test cell (nbgrader must add them back)."""
    nb = copy.deepcopy(nb)
    tests = {id(c) for c in cells_of(nb, "test")}
    nb.cells = [c for c in nb.cells if id(c) not in tests]
    return nb


def append_code(nb, code: str, after: str | None = None):
    nb = copy.deepcopy(nb)
    new = nbformat.v4.new_code_cell(code)
    new.id = f"added-{len(nb.cells)}"
    index = len(nb.cells) if after is None else nb.cells.index(cell(nb, after)) + 1
    nb.cells.insert(index, new)
    return nb


def write(nb, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def read(path: Path):
    return nbformat.read(path, as_version=4)
