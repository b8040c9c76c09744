"""Every speed figure of issue 18 in one command, most important first, within a time budget.

    python -m course_utils bench speed --budget-s 420          # 1 GPU: about 7 minutes
    python -m course_utils bench speed --budget-s 280          # 2 GPUs: adds DDP and the profile
    python -m course_utils bench speed --device cpu --quick    # the whole command on a CPU, < 1 min

In order (each run's compile warm-up counts against ``--budget-s``; what would not fit is
skipped and listed):

1. the course's best single-GPU step: ResNet-50 bf16 224 px, whole step compiled, fused SGD;
2. the plain-PyTorch reference (benchmarks/reference_resnet.py) in a subprocess, same batch;
3. with 2+ GPUs: compiled DDP on every visible GPU, profiled (NCCL vs compute per step);
4. with 2+ GPUs: ResNet-18 32 px, single and DDP, large batch (small models are launch-bound);
5. what each option gives: eager, model-only compile, batch 384, CUDA graphs, DDP static graph.

Rows merge into ``--out`` (docs/results/multi_gpu.json) after each run, labelled by config.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from . import fast_step
from . import multi_gpu as mg

REFERENCE = mg.REPO_ROOT / "benchmarks" / "reference_resnet.py"


PARTS = ("best", "reference", "ddp", "r18", "options")


def plan(gpus: int, device: str, quick: bool, parts=PARTS) -> list[tuple[str, mg.Run]]:
    """(kind, what) in priority order; kind is 'run' (a multi_gpu.Run) or 'reference' (a batch).
    ``parts`` keeps only some groups: best, reference, ddp, r18 (ResNet-18 scaling), options."""
    items = _plan(gpus, device, quick)
    return [(kind, run) for part, kind, run in items if part in parts]


def _plan(gpus: int, device: str, quick: bool) -> list[tuple[str, str, mg.Run]]:
    steps, warmup = (2, 1) if quick else (30, 10)
    r50 = 8 if quick else 256
    r18 = 16 if quick else 2048
    best = mg.Run("resnet50", "single", 1, r50, steps, warmup, "default", True, device, "step")
    if quick:  # tiny sizes: resnet50 at 224 px would take minutes on a CPU
        best = replace(best, model="resnet18", batch=r18)
    items = [("best", "run", best), ("reference", "reference", best)]
    if gpus >= 2 and quick:  # one DDP run that passes every DDP option through the torchrun worker
        items.append(("ddp", "run", replace(best, mode="ddp", gpus=gpus, profile=True, static_graph=True,
                                            bucket_cap_mb=1)))
    elif gpus >= 2:
        items.append(("ddp", "run", replace(best, mode="ddp", gpus=gpus, profile=True)))
        # ResNet-18 at 32 px is launch-bound: a large batch per GPU, eager (no compile to wait for)
        r18_single = replace(best, model="resnet18", batch=r18, compile="none", scope="model")
        items += [("r18", "run", r18_single), ("r18", "run", replace(r18_single, mode="ddp", gpus=gpus, profile=True))]
    if not quick:  # the likeliest to beat the best first: CUDA graphs, a larger batch
        items += [("options", "run", replace(best, compile="reduce-overhead")),
                  ("options", "run", replace(best, batch=384))]
    items += [("options", "run", replace(best, compile="none", scope="model"))]  # eager: what compiling gives
    if not quick:
        items += [("options", "run", replace(best, scope="model"))]              # model-only compile
    if gpus >= 2 and not quick:
        items += [("options", "run", replace(best, mode="ddp", gpus=gpus, static_graph=True, bucket_cap_mb=100))]
    return items


def estimate_s(kind: str, item, seen: dict) -> float:
    """Wall seconds a run may take, compile included (measured ones replace the guesses)."""
    if kind == "reference":
        return seen.get("reference", 75.0 if item.device == "cuda" else 20.0)
    run = item
    key = (run.model, run.mode, run.compile, run.scope)
    if key in seen:
        return seen[key]
    if run.device == "cpu":
        return 15.0 if run.mode == "single" else 30.0
    # ResNet-50 in default mode compiled in ~47 s on an H200 (model only); the step adds the optimizer
    compile_s = {"none": 0.0, "default": 50.0, "reduce-overhead": 70.0}.get(run.compile, 240.0)
    compile_s *= 1.3 if run.scope == "step" else 1.0  # the optimizer's graph too
    return compile_s + (25.0 if run.mode == "single" else 45.0)


def run_reference(run: mg.Run, timeout_s: float) -> dict:
    size, classes, _ = mg.WORKLOADS[run.model]
    cmd = [sys.executable, str(REFERENCE), "--model", run.model, "--batch", str(run.batch),
           "--image-size", str(size), "--classes", str(classes), "--steps", str(run.steps),
           "--warmup", str(run.warmup), "--device", run.device,
           "--compile", "default" if run.device == "cuda" else "none"]  # CPU: a test of the script, no C++ compile
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=str(mg.REPO_ROOT))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"reference script exited {proc.returncode}: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summary_lines(rows: list[dict], reference: dict | None, host: dict) -> list[str]:
    lines = [f"machine: {host.get('gpu', 'CPU')} x{host.get('gpus_visible') or 0}, driver {host.get('driver')}, "
             f"torch {host['torch']}, CUDA {host.get('cuda')}, {host['date']}"]
    best = max((r for r in rows if r["mode"] == "single" and r["model"] == rows[0]["model"]),
               key=lambda r: r["img_per_s"], default=None)
    if best:
        lines.append(f"course best single: {best['img_per_s']:,.0f} img/s ({best['model']}, {best['config']}, "
                     f"batch {best['batch']})")
    if reference:
        lines.append(f"plain-PyTorch reference: {reference['img_per_s']:,.0f} img/s (batch {reference['batch']})")
        if best:
            lines.append(f"course / reference: {best['img_per_s'] / reference['img_per_s']:.3f}")
    for r in rows:
        if r["mode"] == "ddp":
            eff = r.get("scaling_efficiency")
            lines.append(f"DDP {r['model']} x{r['gpus']} ({r['config']}, {r['ddp_options']}): {r['img_per_s']:,.0f} "
                         f"img/s, scaling {'n/a' if eff is None else f'{100 * eff:.1f}%'}")
            if r.get("profile"):
                lines.append(f"    profile: {json.dumps(r['profile'])}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_utils bench speed", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting runs past this (default 420)")
    p.add_argument("--out", type=Path, default=mg.DEFAULT_OUT,
                   help=f"JSON to merge rows into (default {mg.DEFAULT_OUT})")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu: runs the whole command on tiny sizes (a test of the command, not a benchmark)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 timed steps (with --device cpu)")
    p.add_argument("--parts", default=",".join(PARTS), type=lambda t: [x for x in t.split(",") if x],
                   help=f"which groups to measure, in this order of priority: {', '.join(PARTS)} (default all)")
    p.add_argument("--gpus", type=int, default=None, help="GPUs for DDP (default: every visible GPU; cpu: 2 ranks)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU is visible; --device cpu --quick runs the command on tiny sizes", file=sys.stderr)
        return 2
    unknown = [x for x in args.parts if x not in PARTS]
    if unknown:
        print(f"error: unknown --parts {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if args.budget_s <= 0:
        print("error: --budget-s must be positive", file=sys.stderr)
        return 2
    visible = torch.cuda.device_count() if args.device == "cuda" else 2
    gpus = args.gpus or visible
    if gpus > visible or gpus < 1:
        print(f"error: --gpus {gpus}: {visible} visible", file=sys.stderr)
        return 2
    if args.device == "cuda":
        torch.set_float32_matmul_precision("high")
    else:  # inductor's C++ compile takes minutes on a small CPU: test the command, not the compiler
        os.environ[fast_step.BACKEND_ENV] = fast_step.COMPILE_BACKEND = "aot_eager"
    host = mg.host_info(args.device)
    host["driver"] = _driver()
    existing = mg.load_existing(args.out)
    items = plan(gpus, args.device, args.quick or args.device == "cpu", args.parts)
    print(f"bench speed: {len(items)} measurements on {host.get('gpu', 'CPU')} ({gpus} for DDP), "
          f"budget {args.budget_s:.0f} s; rows merge into {args.out}", flush=True)
    start = time.monotonic()
    done: list[dict] = []
    skipped: list[tuple[mg.Run, str]] = []
    seen: dict = {}
    reference = None
    for kind, run in items:
        left = args.budget_s - (time.monotonic() - start)
        need = estimate_s(kind, run, seen)
        label = "reference script" if kind == "reference" else run.describe()
        if need > left:
            skipped.append((run, f"skipped ({kind}): ~{need:.0f} s needed, {max(0, left):.0f} s left"))
            print(f"  skip {label}: ~{need:.0f} s needed, {max(0, left):.0f} s left", flush=True)
            continue
        print(f"  run  {label} ...", flush=True)
        t0 = time.monotonic()
        try:
            if kind == "reference":
                reference = run_reference(run, timeout_s=max(30.0, left))
                seen["reference"] = time.monotonic() - t0
                reference.update(wall_s=round(seen["reference"], 1), mode="reference", gpus=1)
                print(f"       {reference['img_per_s']:,.0f} img/s", flush=True)
                _write(args.out, existing, done, reference, host)
                continue
            measured = mg.run_ddp(run, timeout_s=max(30.0, left)) if run.mode == "ddp" else mg.run_in_process(run)
        except Exception as exc:  # one failed configuration (OOM, NCCL, compile) must not lose the others
            skipped.append((run, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"))
            print(f"  FAILED {label}: {exc}", flush=True)
            gc.collect()
            if args.device == "cuda":
                torch.cuda.empty_cache()
            continue
        wall = time.monotonic() - t0
        seen[(run.model, run.mode, run.compile, run.scope)] = wall
        row = mg.add_scaling(mg.make_row(run, measured, host, wall), done + existing)
        done.append(row)
        print(f"       {row['img_per_s']:,.0f} img/s" + (f", scaling {100 * row['scaling_efficiency']:.1f}%"
                                                          if row.get("scaling_efficiency") else "")
              + f" ({wall:.0f} s)", flush=True)
        _write(args.out, existing, done, reference, host)
    print()
    print(mg.format_table(done, skipped))
    print()
    print("\n".join(summary_lines(done, reference, host)))
    print(f"\n{len(done)} runs{' + reference' if reference else ''} in {time.monotonic() - start:.0f} s; "
          f"written to {args.out}")
    return 0 if done else 1


def _write(path: Path, existing: list[dict], done: list[dict], reference: dict | None, host: dict) -> None:
    rows = list(done)
    if reference:
        rows.append({"model": reference["model"], "mode": "reference", "gpus": 1, "batch": reference["batch"],
                     "dtype": "bf16" if reference["device"] == "cuda" else "fp32", "compile": reference["compile"],
                     "cudnn_benchmark": True, "device": reference["device"], "scope": "model", "ddp_options": None,
                     "config": "plain PyTorch (benchmarks/reference_resnet.py)", **reference, "date": host["date"]})
    mg.write_rows(path, mg.merge_rows(existing, rows), host)


def _driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


if __name__ == "__main__":
    sys.exit(main())
