"""Record an image build in docs/results/images.json and fail when the image is over its budget.

    python docker/image_report.py --variant cpu --workshop TAG [--grading TAG --grading-seconds S]
        --base TAG --base-seconds S --workshop-seconds S --budget-mb MB --out docs/results/images.json

Called by docker/build.sh after a build. Sizes are podman's (all layers, uncompressed, in MB of
10^6 bytes); the largest layers come from `podman history`. Exit 1: over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

PODMAN = ["podman", "--runtime", "runc"]


def podman_json(*args: str):
    out = subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def size_mb(tag: str) -> float:
    return round(podman_json("image", "inspect", tag)[0]["Size"] / 1e6, 1)


def largest_layers(tag: str, count: int = 6) -> list[dict]:
    """The layers that take the space: size and the instruction that made them."""
    rows = podman_json("history", "--format", "json", tag)
    layers = [
        {"mb": round(r.get("size", 0) / 1e6, 1), "created_by": " ".join(str(r.get("CreatedBy", "")).split())[:160]}
        for r in rows
    ]
    return sorted(layers, key=lambda r: -r["mb"])[:count]


def over_budget(size: float, budget: float) -> str | None:
    if size > budget:
        return (
            f"the image is {size:.0f} MB, over its budget of {budget:.0f} MB (docs/docker.md): find the layer "
            "that grew with `podman history` and shrink it, or raise the budget there with a reason"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", required=True, choices=["cpu", "gpu"])
    parser.add_argument("--workshop", required=True)
    parser.add_argument("--grading")
    parser.add_argument("--base", required=True)
    parser.add_argument("--base-seconds", type=float, default=0.0)
    parser.add_argument("--workshop-seconds", type=float, required=True)
    parser.add_argument("--grading-seconds", type=float, default=0.0)
    parser.add_argument("--budget-mb", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "system": platform.platform(),
            "builder": subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip(),
        },
        "base": {
            "image": args.base,
            "size_mb": size_mb(args.base),
            "made_s": args.base_seconds or None,
            "reused": not args.base_seconds,
        },
        "workshop": {
            "image": args.workshop,
            "size_mb": size_mb(args.workshop),
            "build_s": args.workshop_seconds,
            "largest_layers": largest_layers(args.workshop),
        },
        "budget_mb": args.budget_mb,
    }
    if args.grading:
        record["grading"] = {"image": args.grading, "size_mb": size_mb(args.grading), "build_s": args.grading_seconds}
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    data[args.variant] = record
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    w = record["workshop"]
    print(
        f"{args.variant}: workshop {w['size_mb']:.0f} MB in {w['build_s']:.0f} s"
        + (f", grading {record['grading']['size_mb']:.0f} MB in {args.grading_seconds:.0f} s" if args.grading else "")
        + f"; budget {args.budget_mb:.0f} MB; recorded in {args.out}"
    )
    for layer in w["largest_layers"]:
        print(f"  {layer['mb']:>9.1f} MB  {layer['created_by'][:110]}")
    problem = over_budget(w["size_mb"], args.budget_mb)
    if problem:
        print(f"image_report: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
