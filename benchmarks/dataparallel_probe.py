"""Why is nn.DataParallel slow, and why does cudnn.benchmark make it so much worse?

    python benchmarks/dataparallel_probe.py --out docs/results/dataparallel_probe.json

Hypothesis under test (not assumed): PyTorch's cuDNN v8/v9 frontend keeps its
execution-plan cache ``thread_local`` (aten/src/ATen/native/cudnn/Conv_v8.cpp:
``thread_local BenchmarkCache<...> benchmark_cache``), and nn.DataParallel's
``parallel_apply`` runs every replica's forward in a *new* thread on every call,
so with ``cudnn.benchmark=True`` every step autotunes every convolution again.

Part A, one GPU, ResNet-50 fwd+bwd steps run (1) in the main thread, (2) in one
long-lived worker thread, (3) each in a fresh ``threading.Thread``, each with
cudnn.benchmark on and off. Every configuration gets a thread of its own, so one
configuration's cached plans never serve another's forward pass (the backward
pass always runs on autograd's own long-lived per-GPU thread, as it does under
DataParallel).
Part B, the control: step (1) and (3) again in a subprocess with
``TORCH_CUDNN_V8_API_DISABLED=1`` (the older cuDNN v7 path, whose cache is shared
by all threads), if this build still honours that switch.
Part C, 2 GPUs: nn.DataParallel's forward taken apart (scatter, replicate,
parallel_apply, gather, then backward+step), cudnn.benchmark on and off, and the
same with long-lived per-GPU threads (course_utils.distributed.dp_threads); plus the
dtype the replicas compute in under bf16 autocast.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_utils.bench.multi_gpu import (  # noqa: E402
    WORKLOADS,
    FixedBatchStep,
    build_model,
    host_info,
    make_optimizer,
)
from course_utils.distributed.dp_threads import PersistentThreadDataParallel  # noqa: E402

DEFAULT_OUT = ROOT / "docs" / "results" / "dataparallel_probe.json"


def _batch(model: str, n: int, device: torch.device):
    size, classes, _ = WORKLOADS[model]
    x = torch.randn(n, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, classes, (n,), device=device)


def _sync(devices) -> None:
    for d in devices:
        if d.type == "cuda":
            torch.cuda.synchronize(d)


def _median(values):
    return round(statistics.median(values), 1) if values else None


# ---- part A: where does a training step run? -------------------------------------------------------------
def _run_in(where: str, fn, pool: ThreadPoolExecutor | None) -> None:
    if where == "main":
        fn()
    elif where == "long-lived":
        if pool is None:
            raise ValueError("where='long-lived' needs the pool to run in")
        pool.submit(fn).result()
    else:  # a new thread for this one step, like nn.DataParallel's parallel_apply
        errors = []

        def target():
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=target)
        t.start()
        t.join()
        if errors:
            raise errors[0]


def thread_probe(
    model_name: str, batch: int, device: torch.device, configs, warmup: int, steps: int, slow_steps: int
) -> list[dict]:
    model = build_model(model_name, device)
    opt, _ = make_optimizer(model, device)
    x, y = _batch(model_name, batch, device)
    step = FixedBatchStep(model, opt, x, y, device)  # the benchmark's own training step

    rows = []
    for where, bench in configs:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = bench
        pool = ThreadPoolExecutor(max_workers=1) if where == "long-lived" else None
        n = slow_steps if (where == "new-thread" and bench) else steps
        times = []
        for _ in range(warmup + n):
            _sync([device])
            t = time.perf_counter()
            _run_in(where, step, pool)
            _sync([device])
            times.append((time.perf_counter() - t) * 1e3)
        if pool is not None:
            pool.shutdown()
        rows.append(
            {
                "thread": where,
                "cudnn_benchmark": bench,
                "first_step_ms": round(times[0], 1),
                "step_ms": [round(t, 1) for t in times[warmup:]],
                "median_step_ms": _median(times[warmup:]),
            }
        )
        print(
            f"  {where:>10}  cudnn.benchmark={'on ' if bench else 'off'}  first {times[0]:8.1f} ms  "
            f"then median {rows[-1]['median_step_ms']:8.1f} ms over {n} steps",
            flush=True,
        )
    return rows


PART_A = [("main", True), ("long-lived", True), ("new-thread", True), ("long-lived", False), ("new-thread", False)]
PART_B = [("main", True), ("new-thread", True)]


def v7_control(args, timeout_s: float) -> dict:
    """Part A's decisive pair again with the cuDNN v7 API, in a fresh process."""
    env = dict(os.environ, TORCH_CUDNN_V8_API_DISABLED="1")
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part-b-worker",
        "--model",
        args.model,
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--slow-steps",
        str(args.slow_steps),
        "--device",
        args.device,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"skipped": f"the v7 control took longer than {timeout_s:.0f} s"}
    if proc.returncode != 0:
        return {"skipped": "the v7 control failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return {"env": "TORCH_CUDNN_V8_API_DISABLED=1", "rows": json.loads(proc.stdout.strip().splitlines()[-1])}


# ---- part C: DataParallel taken apart ------------------------------------------------------------------
def dp_probe(model_name: str, batch: int, gpus: int, variants, warmup: int, steps: int, slow_steps: int) -> list:
    devices = [torch.device("cuda", i) for i in range(gpus)]
    rows = []
    for cls, bench in variants:
        torch.backends.cudnn.benchmark = bench
        model = build_model(model_name, devices[0])
        dtypes: list[str] = []
        model.conv1.register_forward_hook(lambda m, i, o, seen=dtypes: seen.append(str(o.dtype).replace("torch.", "")))
        dp = cls(model, device_ids=list(range(gpus)))
        opt, _ = make_optimizer(model, devices[0])
        x, y = _batch(model_name, batch * gpus, devices[0])
        phases: dict[str, list[float]] = {
            k: [] for k in ("scatter", "replicate", "parallel_apply", "gather", "backward_step", "step")
        }
        n = slow_steps if bench and cls is torch.nn.DataParallel else steps
        for i in range(warmup + n):
            marks = {}
            _sync(devices)
            t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                inputs, kwargs = dp.scatter((x,), {}, dp.device_ids)
                _sync(devices)
                marks["scatter"] = time.perf_counter()
                replicas = dp.replicate(dp.module, dp.device_ids[: len(inputs)])
                _sync(devices)
                marks["replicate"] = time.perf_counter()
                outputs = dp.parallel_apply(replicas, inputs, kwargs)
                _sync(devices)
                marks["parallel_apply"] = time.perf_counter()
                out = dp.gather(outputs, dp.output_device)
                _sync(devices)
                marks["gather"] = time.perf_counter()
                loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            _sync(devices)
            marks["backward_step"] = time.perf_counter()
            if i >= warmup:
                prev = t0
                for k in ("scatter", "replicate", "parallel_apply", "gather", "backward_step"):
                    phases[k].append((marks[k] - prev) * 1e3)
                    prev = marks[k]
                phases["step"].append((marks["backward_step"] - t0) * 1e3)
        name = "nn.DataParallel" if cls is torch.nn.DataParallel else "DataParallel, long-lived threads"
        rows.append(
            {
                "variant": name,
                "gpus": gpus,
                "cudnn_benchmark": bench,
                "batch_per_gpu": batch,
                "phases_median_ms": {k: _median(v) for k, v in phases.items()},
                "step_ms": [round(v, 1) for v in phases["step"]],
                "img_per_s": round(batch * gpus / (statistics.median(phases["step"]) / 1e3), 1),
                "replica_autocast_dtype": sorted(set(dtypes)),
            }
        )
        p = rows[-1]["phases_median_ms"]
        print(
            f"  {name:>32}  cudnn.benchmark={'on ' if bench else 'off'}  scatter {p['scatter']} ms, replicate "
            f"{p['replicate']} ms, parallel_apply {p['parallel_apply']} ms, gather {p['gather']} ms, backward+step "
            f"{p['backward_step']} ms; replicas ran {'/'.join(sorted(set(dtypes)))}",
            flush=True,
        )
        del dp, model, opt, x, y
        torch.cuda.empty_cache()
    return rows


# ---- what the numbers say ------------------------------------------------------------------------------
def _find(rows, where, bench):
    return next((r["median_step_ms"] for r in rows if r["thread"] == where and r["cudnn_benchmark"] == bench), None)


def verdict(part_a: list[dict], part_b: dict, part_c: list[dict], on_gpu: bool = True) -> dict:
    hypothesis = (
        "cuDNN v8/v9 plan cache is thread_local and DataParallel makes new threads every step, "
        "so cudnn.benchmark autotunes every step"
    )
    if not on_gpu:
        return {"hypothesis": hypothesis, "result": "not tested (CPU smoke run: no cuDNN)", "evidence": []}
    evidence = []
    same_on, new_on = _find(part_a, "long-lived", True), _find(part_a, "new-thread", True)
    main_on = _find(part_a, "main", True)
    same_off, new_off = _find(part_a, "long-lived", False), _find(part_a, "new-thread", False)
    supported = None
    if same_on and new_on:
        ratio = new_on / same_on
        evidence.append(
            f"one GPU, cudnn.benchmark on: a step in a new thread each time took {new_on:.0f} ms, "
            f"in one long-lived thread {same_on:.0f} ms (main thread {main_on:.0f} ms): {ratio:.1f}x"
        )
        if same_off and new_off:
            evidence.append(
                f"cudnn.benchmark off: new thread {new_off:.0f} ms, long-lived thread {same_off:.0f} ms "
                f"({new_off / same_off:.2f}x): without autotuning, new threads cost only the plan look-up"
            )
        supported = ratio > 3
    rows_b = part_b.get("rows") or []
    if rows_b:
        v7_main, v7_new = _find(rows_b, "main", True), _find(rows_b, "new-thread", True)
        if v7_main and v7_new:
            evidence.append(
                f"with TORCH_CUDNN_V8_API_DISABLED=1 (v7 API, one cache for all threads): new thread "
                f"{v7_new:.0f} ms vs main thread {v7_main:.0f} ms ({v7_new / v7_main:.1f}x)"
            )
            if supported and v7_new / v7_main > 2:
                evidence.append(
                    "the v7 switch did not remove the slowdown: it may be ignored by this build, or the "
                    "per-thread state is not only the v8 plan cache"
                )
    elif "skipped" in part_b:
        evidence.append(f"v7 control not run: {part_b['skipped']}")
    dp = {(r["variant"], r["cudnn_benchmark"]): r for r in part_c}
    on, off = dp.get(("nn.DataParallel", True)), dp.get(("nn.DataParallel", False))
    fixed = dp.get(("DataParallel, long-lived threads", True))
    if on and off:
        evidence.append(
            f"DataParallel on {on['gpus']} GPUs: parallel_apply (the per-replica forward threads) "
            f"{on['phases_median_ms']['parallel_apply']:.0f} ms with cudnn.benchmark on, "
            f"{off['phases_median_ms']['parallel_apply']:.0f} ms off"
            + (f", {fixed['phases_median_ms']['parallel_apply']:.0f} ms on with long-lived threads" if fixed else "")
        )
        evidence.append(
            f"replicate {off['phases_median_ms']['replicate']:.1f} ms and scatter+gather "
            f"{off['phases_median_ms']['scatter'] + off['phases_median_ms']['gather']:.1f} ms each step, "
            "costs DDP never pays (it replicates once and all-reduces gradients during backward)"
        )
        if on["replica_autocast_dtype"] and on["replica_autocast_dtype"] != ["bfloat16"]:
            evidence.append(
                f"under torch.autocast(dtype=bfloat16) the replicas computed in "
                f"{'/'.join(on['replica_autocast_dtype'])}: parallel_apply re-enters autocast in its "
                "threads without the dtype, and the dtype is thread-local"
            )
    text = {True: "supported", False: "not supported", None: "not tested"}[supported]
    return {"hypothesis": hypothesis, "result": text, "evidence": evidence}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50", choices=sorted(WORKLOADS))
    p.add_argument("--batch", type=int, default=256, help="images per GPU (default 256, as in the benchmark)")
    p.add_argument("--steps", type=int, default=6, help="timed steps for fast configurations")
    p.add_argument("--slow-steps", type=int, default=3, help="timed steps where every step may autotune")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--gpus", type=int, default=2, help="GPUs for the DataParallel part (default 2)")
    p.add_argument("--no-v7-control", action="store_true", help="skip the TORCH_CUDNN_V8_API_DISABLED=1 run")
    p.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cpu: a smoke test of the harness only (no cuDNN, nothing to conclude)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--part-b-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "error: no CUDA GPU is visible; this probe measures cuDNN on GPUs (--device cpu only smoke-tests it)",
            file=sys.stderr,
        )
        return 2
    device = torch.device(args.device, 0) if args.device == "cuda" else torch.device("cpu")
    if args.part_b_worker:
        rows = thread_probe(args.model, args.batch, device, PART_B, args.warmup, args.steps, args.slow_steps)
        print(json.dumps(rows))
        return 0
    start = time.monotonic()
    print(f"Part A: one {'GPU' if args.device == 'cuda' else 'CPU'}, {args.model}, batch {args.batch}", flush=True)
    part_a = thread_probe(args.model, args.batch, device, PART_A, args.warmup, args.steps, args.slow_steps)
    if args.no_v7_control:
        part_b: dict[str, Any] = {"skipped": "--no-v7-control"}
    else:
        print("Part B: the same with TORCH_CUDNN_V8_API_DISABLED=1 (fresh process)", flush=True)
        part_b = v7_control(args, timeout_s=120)
        for r in part_b.get("rows", []):
            print(f"  {r['thread']:>10}  cudnn.benchmark=on   median {r['median_step_ms']} ms", flush=True)
        if "skipped" in part_b:
            print(f"  {part_b['skipped']}", flush=True)
    part_c = []
    available = torch.cuda.device_count() if args.device == "cuda" else 0
    if available >= args.gpus >= 2:
        print(f"Part C: DataParallel on {args.gpus} GPUs, phase by phase", flush=True)
        variants = [(torch.nn.DataParallel, True), (torch.nn.DataParallel, False), (PersistentThreadDataParallel, True)]
        part_c = dp_probe(args.model, args.batch, args.gpus, variants, args.warmup, args.steps, args.slow_steps)
    else:
        print(f"Part C skipped: needs {args.gpus} GPUs, {available} visible", flush=True)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "host": host_info(args.device),
        "config": {
            "model": args.model,
            "batch_per_gpu": args.batch,
            "image_size": WORKLOADS[args.model][0],
            "dtype": "bf16" if args.device == "cuda" else "fp32",
            "channels_last": True,
            "warmup": args.warmup,
            "steps": args.steps,
            "slow_steps": args.slow_steps,
            "device": args.device,
        },
        "single_gpu": part_a,
        "v7_control": part_b,
        "dataparallel": part_c,
        "verdict": verdict(part_a, part_b, part_c, args.device == "cuda"),
        "elapsed_s": round(time.monotonic() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nHypothesis: {result['verdict']['hypothesis']}\nResult: {result['verdict']['result']}")
    for line in result["verdict"]["evidence"]:
        print(f"  - {line}")
    print(f"written to {args.out} in {result['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
