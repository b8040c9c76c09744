"""Re-execute notebooks and store outputs only for cells tagged `nbval-check-output`.

    .venv/bin/python scripts/refresh_checked_outputs.py notebooks/04_dockerfiles.ipynb [...]

Those cells' outputs are what nbval compares in CI; every other cell is stored
without outputs. Run it after changing what such a cell prints, on the CPU
machine (their output must be the same on every machine).
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

TAG = "nbval-check-output"  # nbval compares the outputs of cells with this tag


def refresh(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    NotebookClient(
        executed, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    kept = 0
    for cell, run in zip(nb.cells, executed.cells, strict=True):
        if cell.cell_type != "code":
            continue
        if TAG in cell.metadata.get("tags", []):
            cell.outputs, cell.execution_count = run.outputs, run.execution_count
            kept += 1
        else:
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)
    return kept


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for arg in sys.argv[1:]:
        print(f"{arg}: {refresh(Path(arg))} checked cell(s) refreshed")
