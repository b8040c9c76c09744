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
5. what each option gives: eager, model-only compile, batch 768, CUDA graphs, DDP split graph.

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
from datetime import UTC, datetime
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
    if quick:  # tiny sizes: resnet50 at 224 px would take minutes on a CPU
        best = mg.Run("resnet18", "single", 1, 16, steps, warmup, "default", True, device, "step")
    else:  # the fastest found on an H200 (docs/performance.md): whole step compiled, CUDA graphs, batch 512
        best = mg.Run("resnet50", "single", 1, 512, steps, warmup, "reduce-overhead", True, device, "step")
    items = [("best", "run", best), ("reference", "reference", best)]
    # DDP is compared with the single GPU of the same step (compiled, default mode: DDP's hooks and CUDA
    # graphs do not mix), at the same batch per GPU
    ddp_base = replace(best, compile="default")
    if gpus >= 2 and quick:  # one DDP run that passes every DDP option through the torchrun worker
        items.append(
            (
                "ddp",
                "run",
                replace(
                    ddp_base, mode="ddp", gpus=gpus, profile=True, static_graph=True, bucket_cap_mb=1, split_graph=False
                ),
            )
        )
    elif gpus >= 2:
        # one graph, all-reduce after backward (the trainer's default; see fast_step.StepOptions)
        ddp = replace(ddp_base, mode="ddp", gpus=gpus, profile=True, split_graph=False)
        items += [("ddp", "run", ddp_base), ("ddp", "run", ddp)]
        # ResNet-18 at 32 px: eager steps are launch-bound up to ~2048 images, so DDP's per-step host work
        # shows; 8192 per GPU makes the step GPU-bound (no compile to wait for)
        r18 = replace(best, model="resnet18", batch=8192, compile="none", scope="model")
        items += [("r18", "run", r18), ("r18", "run", replace(r18, mode="ddp", gpus=gpus, profile=True))]
    r50 = replace(best, batch=256, compile="default")
    if not quick:  # what each option gives, the likeliest to beat the best first
        items += [("options", "run", replace(best, batch=768))]
    items += [("options", "run", replace(r50 if not quick else best, compile="none", scope="model"))]  # eager
    if not quick:
        items += [("options", "run", r50)]  # compile the step, batch 256
        if gpus >= 2:  # the launch-bound case: ResNet-18 at 2048 per GPU
            r18_small = replace(best, model="resnet18", batch=2048, compile="none", scope="model")
            items += [("options", "run", r18_small), ("options", "run", replace(r18_small, mode="ddp", gpus=gpus))]
        items += [
            ("options", "run", replace(r50, compile="reduce-overhead")),  # CUDA graphs at 256
            ("options", "run", replace(r50, scope="model")),
        ]  # model-only compile
        if gpus >= 2:  # PyTorch's default for compiled DDP: a graph per bucket, all-reduces overlapping backward
            items += [("options", "run", replace(ddp, profile=False, split_graph=True))]
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
    if run.compile == "none" and run.model == "resnet50":
        return 30.0  # cudnn.benchmark tries every convolution's algorithms first: ~15 s
    # measured on an H200 (2026-11-30): ResNet-50 step compile ~55 s (default), ~60 s with CUDA graphs;
    # max-autotune did not finish in 180 s
    compile_s = {"none": 0.0, "default": 50.0, "reduce-overhead": 55.0}.get(run.compile, 240.0)
    compile_s *= 1.1 if run.scope == "step" else 1.0  # the optimizer's graph too
    return compile_s + (15.0 if run.mode == "single" else 25.0)


def start_reference(run: mg.Run, gpu: str | None = None) -> subprocess.Popen:
    """The reference script as a child process; ``gpu``: the one GPU it may see (to run it beside
    the course's own single-GPU runs on another GPU)."""
    env = dict(os.environ)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return subprocess.Popen(
        reference_command(run),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(mg.REPO_ROOT),
        env=env,
    )


def finish_reference(proc: subprocess.Popen, timeout_s: float) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"reference script still running after {timeout_s:.0f} s; stopped") from None
    if proc.returncode != 0:
        last = (err.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"reference script exited {proc.returncode}: {last}")
    return json.loads(out.strip().splitlines()[-1])


def reference_command(run: mg.Run) -> list[str]:
    size, classes, _ = mg.WORKLOADS[run.model]
    cmd = [
        sys.executable,
        str(REFERENCE),
        "--model",
        run.model,
        "--batch",
        str(run.batch),
        "--image-size",
        str(size),
        "--classes",
        str(classes),
        "--steps",
        str(run.steps),
        "--warmup",
        str(run.warmup),
        "--device",
        run.device,
        "--compile",
        "default" if run.device == "cuda" else "none",
    ]  # CPU: a test of the script, no C++ compile
    return cmd


def run_reference(run: mg.Run, timeout_s: float) -> dict:
    return finish_reference(start_reference(run), timeout_s)


def summary_lines(rows: list[dict], reference: dict | None, host: dict) -> list[str]:
    lines = [
        f"machine: {host.get('gpu', 'CPU')} x{host.get('gpus_visible') or 0}, driver {host.get('driver')}, "
        f"torch {host['torch']}, CUDA {host.get('cuda')}, {host.get('cpus')} CPUs, run started {host['run']}"
    ]
    best = max(
        (r for r in rows if r["mode"] == "single" and r["model"] == rows[0]["model"]),
        key=lambda r: r["img_per_s"],
        default=None,
    )
    if best:
        lines.append(
            f"course best single: {best['img_per_s']:,.0f} img/s ({best['model']}, {best['config']}, "
            f"batch {best['batch']})"
        )
    if reference:
        lines.append(f"plain-PyTorch reference: {reference['img_per_s']:,.0f} img/s (batch {reference['batch']})")
        if best:
            lines.append(f"course / reference: {best['img_per_s'] / reference['img_per_s']:.3f}")
    for r in rows:
        if r["mode"] == "ddp":
            eff = r.get("scaling_efficiency")
            lines.append(
                f"DDP {r['model']} x{r['gpus']} ({r['config']}, {r['ddp_options']}): {r['img_per_s']:,.0f} "
                f"img/s, scaling {'n/a' if eff is None else f'{100 * eff:.1f}%'}"
            )
            if r.get("profile"):
                lines.append(f"    profile: {json.dumps(r['profile'])}")
    return lines


TARGETS = {"single": 7000.0, "ddp_resnet50": 0.95, "ddp_resnet18": 0.90}  # issue 18


def target_lines(rows: list[dict]) -> list[str]:
    """Issue 18's three targets against this run's rows."""

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "MISSED")

    single = max((r["img_per_s"] for r in rows if r["mode"] == "single" and r["model"] == "resnet50"), default=None)
    lines = [
        f"target ResNet-50 one GPU >= {TARGETS['single']:,.0f} img/s: "
        f"{verdict(None if single is None else single >= TARGETS['single'])}"
        + ("" if single is None else f" ({single:,.0f})")
    ]
    for model, key in (("resnet50", "ddp_resnet50"), ("resnet18", "ddp_resnet18")):
        effs = [
            r["scaling_efficiency"]
            for r in rows
            if r["mode"] == "ddp" and r["model"] == model and r.get("scaling_efficiency")
        ]
        best = max(effs, default=None)
        lines.append(
            f"target {model} DDP scaling >= {100 * TARGETS[key]:.0f}%: "
            f"{verdict(None if best is None else best >= TARGETS[key])}"
            + ("" if best is None else f" (best {100 * best:.1f}%)")
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_utils bench speed",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting runs past this (default 420)")
    p.add_argument(
        "--out", type=Path, default=mg.DEFAULT_OUT, help=f"JSON to merge rows into (default {mg.DEFAULT_OUT})"
    )
    p.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cpu: runs the whole command on tiny sizes (a test of the command, not a benchmark)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 timed steps (with --device cpu)")
    p.add_argument(
        "--parts",
        default=",".join(PARTS),
        type=lambda t: [x for x in t.split(",") if x],
        help=f"which groups to measure, in this order of priority: {', '.join(PARTS)} (default all)",
    )
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
    host["run"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # marks every row of this one run
    command = "python -m course_utils bench speed " + " ".join(argv if argv is not None else sys.argv[1:])
    existing = mg.load_existing(args.out)
    items = plan(gpus, args.device, args.quick or args.device == "cpu", args.parts)
    print(
        f"bench speed: {len(items)} measurements on {host.get('gpu', 'CPU')} ({gpus} for DDP), "
        f"budget {args.budget_s:.0f} s; rows merge into {args.out}",
        flush=True,
    )
    start = time.monotonic()
    done: list[dict] = []
    skipped: list[tuple[mg.Run, str]] = []
    seen: dict = {}
    reference = None
    beside = None  # the reference script running on the last GPU while the course's runs use the first
    ref_run = next((run for kind, run in items if kind == "reference"), None)
    if ref_run is not None and args.device == "cuda" and visible >= 2:
        gpu = mg.visible_gpu_ids(visible).split(",")[-1]
        beside = (start_reference(ref_run, gpu), gpu)
        print(f"  reference script started on GPU {gpu}, beside the course's single-GPU runs on GPU 0", flush=True)
    for kind, run in items:
        left = args.budget_s - (time.monotonic() - start)
        need = 0.0 if kind == "reference" and beside else estimate_s(kind, run, seen)
        label = "reference script" if kind == "reference" else run.describe()
        if need > left:
            skipped.append((run, f"skipped ({kind}): ~{need:.0f} s needed, {max(0, left):.0f} s left"))
            print(f"  skip {label}: ~{need:.0f} s needed, {max(0, left):.0f} s left", flush=True)
            continue
        print(f"  run  {label} ...", flush=True)
        t0 = time.monotonic()
        try:
            if kind == "reference":
                if beside:
                    reference = finish_reference(beside[0], timeout_s=max(30.0, left))
                    reference["ran_beside"] = f"on GPU {beside[1]} while the course's first single-GPU runs used GPU 0"
                else:
                    reference = run_reference(run, timeout_s=max(30.0, left))
                seen["reference"] = time.monotonic() - t0
                reference.update(wall_s=round(seen["reference"], 1), mode="reference", gpus=1)
                print(f"       {reference['img_per_s']:,.0f} img/s", flush=True)
                _write(args.out, existing, done, reference, host, command)
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
        row = mg.add_scaling(mg.make_row(run, measured, host, wall), done)  # baselines of this run only
        row["run"] = host["run"]
        done.append(row)
        print(
            f"       {row['img_per_s']:,.0f} img/s"
            + (f", scaling {100 * row['scaling_efficiency']:.1f}%" if row.get("scaling_efficiency") else "")
            + f" ({wall:.0f} s)",
            flush=True,
        )
        _write(args.out, existing, done, reference, host, command)
    print()
    print(mg.format_table(done, skipped))
    print()
    print("\n".join(summary_lines(done, reference, host)))
    print("\n".join(target_lines(done)))
    print(
        f"\n{len(done)} runs{' + reference' if reference else ''} in {time.monotonic() - start:.0f} s; "
        f"written to {args.out}"
    )
    return 0 if done else 1


def _write(
    path: Path, existing: list[dict], done: list[dict], reference: dict | None, host: dict, command: str
) -> None:
    rows = list(done)
    summary = {
        "command": command,
        "run": host["run"],
        "lines": summary_lines(done, reference, host) if done else [],
        "targets": target_lines(done),
    }
    if reference:
        rows.append(
            {
                "run": host["run"],
                "model": reference["model"],
                "mode": "reference",
                "gpus": 1,
                "batch": reference["batch"],
                "dtype": "bf16" if reference["device"] == "cuda" else "fp32",
                "compile": reference["compile"],
                "cudnn_benchmark": True,
                "device": reference["device"],
                "scope": "model",
                "ddp_options": None,
                "config": "plain PyTorch (benchmarks/reference_resnet.py)",
                **reference,
                "date": host["date"],
            }
        )
    mg.write_rows(path, mg.merge_rows(existing, rows), host, {"bench_speed": summary})


def _driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


if __name__ == "__main__":
    sys.exit(main())
