"""What the grading sandbox costs per submission: a kernel started, made ready, asked to run one
cell and killed, in the bubblewrap sandbox versus without it, alternating the two so that the
load of a shared machine falls on both alike. Needs root and bubblewrap (as course-grade does).

    sudo .venv/bin/python benchmarks/sandbox_bench.py --runs 12 --out docs/results/sandbox.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from course_grading import sandbox


async def one(sandboxed: bool, root: Path, index: int) -> float:
    work = root / "autograded" / f"s{index}" / "hw"
    work.mkdir(parents=True)
    (work / "course_checks.py").write_text("X = 1\n")
    sandbox.CURRENT = sandbox.Sandbox(uid=sandbox.BASE_UID + 40) if sandboxed else None
    started = time.perf_counter()
    km = sandbox.SandboxKernelManager() if sandboxed else AsyncKernelManager()
    await km.start_kernel(cwd=str(work))
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    reply = await kc.execute_interactive("import course_checks; x = course_checks.X + 1", timeout=60)
    assert reply["content"]["status"] == "ok", reply
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    if sandboxed:
        sandbox.sweep(work)
        sandbox.kill_uid(sandbox.BASE_UID + 40)
    return time.perf_counter() - started


async def main_async(runs: int) -> dict:
    times: dict[str, list[float]] = {"sandbox": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        for i in range(runs):
            for mode in ("sandbox", "plain") if i % 2 == 0 else ("plain", "sandbox"):
                times[mode].append(await one(mode == "sandbox", Path(tmp) / f"{mode}-{i}", i))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "runs": runs,
        "seconds": times,
        "median_s": med,
        "sandbox_cost_s": med["sandbox"] - med["plain"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sandbox.check_available()
    record = asyncio.run(main_async(args.runs))
    print(
        f"kernel start + one cell + kill, median of {args.runs}: sandbox {record['median_s']['sandbox']:.3f} s, "
        f"plain {record['median_s']['plain']:.3f} s: the sandbox costs {record['sandbox_cost_s']:+.3f} s "
        f"(load average {record['load_average'][0]:.1f} on {record['cpus']} CPUs)"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
