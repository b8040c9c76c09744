"""Point TensorFlow-only notebooks at the image's TensorFlow kernel (run at image build time).

    python docker/set_kernels.py COURSE_DIR [--dry-run]

The workshop image keeps TensorFlow (CUDA 12 wheels) and PyTorch (CUDA 13
wheels) in separate environments (see docs/docker.md). A notebook under
notebooks/ whose code imports tensorflow and not torch gets the ``tf-gpu``
kernelspec; every other notebook keeps its own. Prints what it changes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

TF_KERNEL = {"name": "tf-gpu", "display_name": "Python 3.11 (TensorFlow GPU)", "language": "python"}
_IMPORTS = re.compile(r"^\s*(?:import|from)\s+(tensorflow|torch|torchvision)\b", re.MULTILINE)


def frameworks(notebook: dict) -> set[str]:
    found = set()
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = "".join(cell.get("source", ""))
            found |= {"torch" if m == "torchvision" else m for m in _IMPORTS.findall(source)}
    return found


def retarget(course_dir: Path, dry_run: bool = False) -> list[Path]:
    changed = []
    for path in sorted((course_dir / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if frameworks(nb) != {"tensorflow"} or nb.get("metadata", {}).get("kernelspec") == TF_KERNEL:
            continue
        nb.setdefault("metadata", {})["kernelspec"] = TF_KERNEL
        if not dry_run:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        changed.append(path)
    return changed


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--dry-run"]
    if len(args) != 1 or not (Path(args[0]) / "notebooks").is_dir():
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in retarget(Path(args[0]), dry_run="--dry-run" in argv):
        print(f"set_kernels: {path} -> {TF_KERNEL['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
