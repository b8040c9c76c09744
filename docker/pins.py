"""Pins and requirements of the image's course environment, per variant, from the course's pins.

    python docker/pins.py {gpu|cpu} OUT_DIR

Writes OUT_DIR/constraints.txt and OUT_DIR/requirements.txt (pyproject's dependencies), so that
the image installs the dependencies in a layer of their own, before the course package (a change
to course_utils/ then reinstalls only the package, with --no-deps).

gpu: requirements.lock as it is. cpu (CI): requirements.lock and pyproject without the CUDA build
of PyTorch and what only it brings (torchvision, triton, cuda-*, nvidia-* CUDA libraries;
nvidia-ml-py stays, the dashboard reads NVML with it), plus ``torch==CPU_TORCH``. See docs/docker.md.
Standard library only: it runs in the image's bare build stage.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The CPU build of PyTorch that CI installs (from the PyTorch CPU index, or a local wheel).
# The course's 2.14.1 on PyPI is the CUDA build (about 5 GB with its libraries).
CPU_TORCH = "2.13.0+cpu"
_CUDA_ONLY = re.compile(r"^(torch|torchvision|triton|cuda-[a-z0-9-]+|nvidia-(?!ml-py$)[a-z0-9-]+)$")


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[;\s]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def cuda_only(name: str) -> bool:
    return bool(_CUDA_ONLY.match(_name(name)))


def constraints(lock_text: str, variant: str) -> list[str]:
    lines = [line for line in lock_text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if variant == "gpu":
        return lines
    return [line for line in lines if not cuda_only(line)] + [f"torch=={CPU_TORCH}"]


def requirements(pyproject_text: str, variant: str) -> list[str]:
    deps = tomllib.loads(pyproject_text)["project"]["dependencies"]
    if variant == "gpu":
        return list(deps)
    return [d for d in deps if not cuda_only(d)] + [f"torch=={CPU_TORCH}"]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("gpu", "cpu"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    variant, out = argv[0], Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    lock, pyproject = (ROOT / "requirements.lock").read_text(), (ROOT / "pyproject.toml").read_text()
    (out / "constraints.txt").write_text("\n".join(constraints(lock, variant)) + "\n")
    (out / "requirements.txt").write_text("\n".join(requirements(pyproject, variant)) + "\n")
    torch = next(r for r in requirements(pyproject, variant) if _name(r) == "torch")
    print(f"pins: {variant} variant, {torch}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
