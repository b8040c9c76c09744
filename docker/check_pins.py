"""Fail an image build when the environment holds a package the pin files do not pin exactly.

    python docker/check_pins.py requirements.lock [docker/constraints-gpu.txt ...]

pip's --constraint pins what it resolves, but lets through any dependency the
files do not mention, unpinned. Run in the environment just built, this lists
every installed distribution whose version differs from the pins, or that no
pin file names. Standard library only: it runs in any environment.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

# Installed by venv/pip themselves or the course itself; not part of what the lock pins.
IGNORED = {"pip", "gpu-containers-course"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(paths: list[Path]) -> dict[str, str]:
    """name -> version from ``name==version`` lines; anything looser is an error."""
    pins: dict[str, str] = {}
    for path in paths:
        for n, raw in enumerate(Path(path).read_text().splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)", line)
            if not match:
                raise ValueError(f"{path}:{n}: {line!r} is not an exact pin (name==version)")
            name, version = canonical(match.group(1)), match.group(2)
            if pins.get(name, version) != version:
                raise ValueError(f"{path}:{n}: {name} pinned to {version} here and to {pins[name]} before")
            pins[name] = version
    return pins


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def problems(have: dict[str, str], pins: dict[str, str]) -> list[str]:
    out = []
    for name, version in sorted(have.items()):
        if name in IGNORED:
            continue
        if name not in pins:
            out.append(f"{name} {version} is installed but not pinned")
        elif pins[name] != version.split("+", 1)[0] and pins[name] != version:
            out.append(f"{name} {version} is installed but {pins[name]} is pinned")
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        pins = read_pins([Path(a) for a in argv])
    except (OSError, ValueError) as exc:
        print(f"check_pins: {exc}", file=sys.stderr)
        return 2
    found = problems(installed(), pins)
    for line in found:
        print(f"check_pins: {line}", file=sys.stderr)
    if found:
        print("check_pins: pin these in requirements.lock (or docker/constraints-gpu.txt) and rebuild", file=sys.stderr)
        return 1
    print(f"check_pins: all {len(installed())} installed distributions match the pins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
