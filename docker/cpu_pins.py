"""Pins and requirements of the image's CPU variant (CI), derived from the course's own pins.

    python docker/cpu_pins.py OUT_DIR

Writes OUT_DIR/constraints.txt: requirements.lock without the CUDA build of PyTorch and what
only it brings (torchvision, triton, cuda-*, nvidia-* CUDA libraries; nvidia-ml-py stays, the
dashboard reads NVML with it), plus ``torch==CPU_TORCH``. Writes OUT_DIR/requirements.txt:
pyproject's dependencies with the same change. The CPU variant installs those, then the course
package with --no-deps (its metadata names the CUDA torch). See docs/docker.md.
Standard library only: it runs in the image's bare build stage.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The CPU build of PyTorch that CI installs (from the PyTorch CPU index, or a local
# wheel). The course's 2.14.1 on PyPI is the CUDA build (about 5 GB with its libraries).
CPU_TORCH = "2.13.0+cpu"
_CUDA_ONLY = re.compile(r"^(torch|torchvision|triton|cuda-[a-z0-9-]+|nvidia-(?!ml-py$)[a-z0-9-]+)$")


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[;\s]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def cuda_only(name: str) -> bool:
    return bool(_CUDA_ONLY.match(_name(name)))


def constraints(lock_text: str) -> list[str]:
    lines = [line for line in lock_text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [line for line in lines if not cuda_only(line)] + [f"torch=={CPU_TORCH}"]


def requirements(pyproject_text: str) -> list[str]:
    deps = tomllib.loads(pyproject_text)["project"]["dependencies"]
    return [d for d in deps if not cuda_only(d)] + [f"torch=={CPU_TORCH}"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    (out / "constraints.txt").write_text("\n".join(constraints((ROOT / "requirements.lock").read_text())) + "\n")
    (out / "requirements.txt").write_text("\n".join(requirements((ROOT / "pyproject.toml").read_text())) + "\n")
    print(f"cpu_pins: torch=={CPU_TORCH} (CPU) instead of the CUDA stack; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
