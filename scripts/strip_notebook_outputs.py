"""Strip the outputs of course notebooks, keeping those that nbval checks.

    python scripts/strip_notebook_outputs.py [--check] NOTEBOOK...

The rule (tests/notebooks/test_notebook_hygiene.py enforces it): a code cell keeps its outputs and
execution count only when it carries nbval's `nbval-check-output` tag, and only in `notebooks/`;
nbgrader notebooks (`solutions/`, `exercises/`) keep none. Unlike nbstripout, which strips every
cell, this keeps the outputs nbval compares, so the pre-commit hook and `make lint` can enforce the
rule instead of a test merely refusing the commit.

A notebook is rewritten only when something was stripped, in Jupyter's own layout (one-space JSON
indent, UTF-8, final newline), so an already clean notebook is never touched. `--check` rewrites
nothing: it lists the notebooks that would change and exits 1 if there are any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

CHECKED_TAG = "nbval-check-output"  # nbval's own cell tag
NBGRADER_FOLDERS = ("solutions", "exercises")  # nbgrader's source and release: no outputs at all


ROOT = Path(__file__).resolve().parents[1]


def is_nbgrader(path: Path) -> bool:
    """Whether the notebook lies in nbgrader's folders of this repository."""
    try:
        parts = path.resolve().relative_to(ROOT).parts
    except ValueError:  # a notebook outside the repository: any folder of its path counts
        return any(part in NBGRADER_FOLDERS for part in path.parts)
    return bool(parts) and parts[0] in NBGRADER_FOLDERS


def keeps_outputs(cell: dict[str, Any], nbgrader: bool) -> bool:
    """Whether a code cell may keep its outputs: tagged for nbval, outside nbgrader's folders."""
    return not nbgrader and CHECKED_TAG in cell.get("metadata", {}).get("tags", [])


def strip(nb: dict[str, Any], nbgrader: bool) -> bool:
    """Strip the notebook in place; True when anything was removed."""
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or keeps_outputs(cell, nbgrader):
            continue
        if cell.get("outputs"):
            cell["outputs"] = []
            changed = True
        if cell.get("execution_count") is not None:
            cell["execution_count"] = None
            changed = True
    return changed


def jupyter_json(nb: dict[str, Any]) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            print(f"{path}: cannot read it as a notebook ({err}); fix or remove the file", file=sys.stderr)
            return 2
        if strip(nb, is_nbgrader(path)):
            dirty.append(path)
            if not args.check:
                path.write_text(jupyter_json(nb), encoding="utf-8")
    for path in dirty:
        verb = "has outputs to strip" if args.check else "stripped"
        print(f"{path}: {verb} (only cells tagged `{CHECKED_TAG}` in notebooks/ keep theirs)")
    if dirty and args.check:
        print("run: python scripts/strip_notebook_outputs.py " + " ".join(map(str, dirty)))
    return 1 if dirty and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
