"""GPU memory measurements for the course (PyTorch, one GPU, a few GiB of it).

    python benchmarks/memory_bench.py --out docs/results/memory.json [--quick] [--cap-gib 6]

Each part runs in a fresh Python process, because the allocator options
(``PYTORCH_ALLOC_CONF``) are read once per process and the per-process fraction
and the allocator's cache would leak from one part into the next:

1. ``cap``: set a per-process fraction of about ``--cap-gib``; allocate just under
   it (works) and just over it (``torch.cuda.OutOfMemoryError``); then provoke a
   real OOM with a batch that does not fit under the cap and recover with
   ``forward_in_chunks`` (chunk used, equality with a reference, cost of the
   failed tries).
2. ``frag`` twice, default allocator and ``expandable_segments:True``: a
   varying-size workload (random "sequence lengths", long-lived tensors in
   between); reserved vs allocated, peak reserved, cudaMalloc calls; then the same
   workload under a cap: OOMs and cache flushes.
3. ``cache``: a training-like loop with and without ``torch.cuda.empty_cache()``
   after every step: time per step, memory reserved, cudaMalloc calls per step.

Without a CUDA GPU it measures nothing, writes nothing and exits with status 2.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # course_utils from this checkout, installed or not

from course_utils.units import GIB, MIB  # noqa: E402

PARTS = ("cap", "frag-default", "frag-expandable", "cache")
FRAG_CONFIG = {"frag-default": None, "frag-expandable": "expandable_segments:True"}


# ----------------------------------------------------------------------------- child side: one part per process


def _torch():
    sys.path.insert(0, str(ROOT))  # course_utils from this checkout, installed or not
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: nothing to measure")
    return torch


def _stats(torch) -> dict:
    s = torch.cuda.memory_stats(0)
    return {
        "allocated": torch.cuda.memory_allocated(0),
        "reserved": torch.cuda.memory_reserved(0),
        "peak_allocated": torch.cuda.max_memory_allocated(0),
        "peak_reserved": torch.cuda.max_memory_reserved(0),
        "num_ooms": s.get("num_ooms"),
        "num_alloc_retries": s.get("num_alloc_retries"),
        "num_device_alloc": s.get("num_device_alloc"),
        "num_device_free": s.get("num_device_free"),
        "inactive_split_bytes": s.get("inactive_split_bytes.all.current"),
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def part_cap(cap_gib: float, quick: bool) -> dict:
    torch = _torch()
    from course_utils.memory import forward_in_chunks, set_memory_fraction

    total = torch.cuda.get_device_properties(0).total_memory
    fraction = set_memory_fraction(cap_gib * GIB / total)
    cap = fraction.cap_bytes
    out: dict = {"cap_bytes": cap, "fraction": fraction.fraction, "total_bytes": total}

    # (a) the fraction enforced: just under works, just over raises
    margin = 64 * MIB
    try:
        t = torch.empty(cap - margin, dtype=torch.uint8, device="cuda")
        del t
        out["under_cap_ok"] = True
    except torch.cuda.OutOfMemoryError as exc:
        out["under_cap_ok"], out["under_cap_error"] = False, _first_line(exc)
    torch.cuda.empty_cache()
    try:
        t = torch.empty(cap + margin, dtype=torch.uint8, device="cuda")
        del t
        out["over_cap_raised"] = False
    except torch.cuda.OutOfMemoryError as exc:
        out["over_cap_raised"], out["over_cap_error"] = True, _first_line(exc)
    out["margin_bytes"] = margin
    torch.cuda.empty_cache()

    # (b) a real OOM under the cap, recovered with forward_in_chunks
    torch.manual_seed(0)
    hidden = 65536  # fp32: 256 KiB per sample for the hidden layer, as much again after GELU
    model = torch.nn.Sequential(torch.nn.Linear(1024, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 1024))
    model = model.cuda().eval()
    batch = 16384 if quick else 32768
    x = torch.randn(batch, 1024, device="cuda")
    ref_chunk = 512
    with torch.no_grad():
        reference = torch.cat([model(x[i : i + ref_chunk]) for i in range(0, batch, ref_chunk)])
        torch.cuda.synchronize()
        oom_before = torch.cuda.memory_stats(0).get("num_ooms", 0)
        try:
            model(x)
            out["full_batch_fits"] = True
        except torch.cuda.OutOfMemoryError as exc:
            out["full_batch_fits"], out["full_batch_error"] = False, _first_line(exc)
        torch.cuda.reset_peak_memory_stats(0)
        t0 = time.perf_counter()
        result, used = forward_in_chunks(model, x)
        torch.cuda.synchronize()
        recovered_s = time.perf_counter() - t0
        ooms = torch.cuda.memory_stats(0).get("num_ooms", 0) - oom_before - (0 if out["full_batch_fits"] else 1)
        peak = torch.cuda.max_memory_allocated(0)
        t0 = time.perf_counter()
        direct, _ = forward_in_chunks(model, x, max_chunk=used)  # same chunk from the start: no failed tries
        torch.cuda.synchronize()
        direct_s = time.perf_counter() - t0
    out.update(
        {
            "batch": batch,
            "hidden": hidden,
            "chunk_used": used,
            "ooms_during_recovery": ooms,
            "outputs_shape": list(result.shape),
            "reference_chunk": ref_chunk,
            "equal_to_reference": bool(torch.equal(result, reference)),
            "max_abs_diff": float((result - reference).abs().max()),
            "allclose_rtol1e-5": bool(torch.allclose(result, reference, rtol=1e-5, atol=1e-5)),
            "same_chunk_again_equal": bool(torch.equal(direct, result)),
            "recovered_s": recovered_s,
            "same_chunk_from_start_s": direct_s,
            "peak_allocated_bytes": peak,
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        }
    )
    return out


def _frag_workload(torch, steps: int, seed: int = 0) -> dict:
    """Varying 'sequence lengths' with long-lived tensors allocated between the activations."""
    rng = random.Random(seed)
    keep: list[Any] = []  # tensors of the torch module passed in
    acts: list[Any] = []
    waste_max = 0
    ooms = 0
    t0 = time.perf_counter()
    for step in range(steps):
        length = rng.randint(1, 48)
        acts = []
        try:
            for layer in range(6):
                acts.append(torch.empty(length * 2 * MIB * (1 + layer % 3), dtype=torch.uint8, device="cuda"))
                if layer == 2 and step % 3 == 0:  # lands inside a cached block and pins its segment
                    keep.append(torch.empty(rng.randint(2, 6) * MIB, dtype=torch.uint8, device="cuda"))
        except torch.cuda.OutOfMemoryError:
            ooms += 1
        reserved, allocated = torch.cuda.memory_reserved(0), torch.cuda.memory_allocated(0)
        waste_max = max(waste_max, reserved - allocated)
        acts = []
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    stats = _stats(torch)
    kept = sum(t.numel() for t in keep)
    del keep, acts
    return {
        "steps": steps,
        "ooms": ooms,
        "max_reserved_minus_allocated": waste_max,
        "peak_reserved_over_peak_allocated": stats["peak_reserved"] / max(stats["peak_allocated"], 1),
        "kept_bytes_at_end": kept,
        "seconds": seconds,
        **stats,
    }


def part_frag(config: str | None, cap_gib: float, quick: bool) -> dict:
    torch = _torch()
    getter = getattr(torch._C, "_accelerator_getAllocatorSettings", None)
    steps = 60 if quick else 150
    torch.cuda.init()
    out: dict = {
        "asked": config,
        "PYTORCH_ALLOC_CONF": os.environ.get("PYTORCH_ALLOC_CONF"),
        "allocator_settings_in_use": getter() if getter else None,
    }
    out["uncapped"] = _frag_workload(torch, steps)
    segments = torch.cuda.memory_snapshot()
    out["uncapped"]["segments_at_end"] = len(segments)
    out["uncapped"]["expandable_segments_seen"] = any(s.get("is_expandable") for s in segments)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(0)
    torch.cuda.reset_accumulated_memory_stats(0)
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(cap_gib * GIB / total, 0)
    out["capped"] = _frag_workload(torch, steps)
    out["capped"]["cap_bytes"] = int(cap_gib * GIB)
    return out


def part_cache(quick: bool) -> dict:
    torch = _torch()
    torch.manual_seed(0)
    width, batch = 4096, 2048
    model = torch.nn.Sequential(
        torch.nn.Linear(width, width),
        torch.nn.GELU(),
        torch.nn.Linear(width, width),
        torch.nn.GELU(),
        torch.nn.Linear(width, 1000),
    ).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, width, device="cuda")
    y = torch.randint(0, 1000, (batch,), device="cuda")
    steps = 20 if quick else 50

    def run(empty: bool) -> dict:
        times, reserved_after = [], []
        device_alloc0 = torch.cuda.memory_stats(0).get("num_device_alloc", 0)
        for _ in range(steps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            del loss
            if empty:
                torch.cuda.empty_cache()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            reserved_after.append(torch.cuda.memory_reserved(0))
        device_allocs = torch.cuda.memory_stats(0).get("num_device_alloc", 0) - device_alloc0
        return {
            "median_step_ms": statistics.median(times) * 1e3,
            "min_step_ms": min(times) * 1e3,
            "reserved_after_step_min": min(reserved_after),
            "reserved_after_step_max": max(reserved_after),
            "cudamalloc_per_step": device_allocs / steps,
            "allocated_between_steps": torch.cuda.memory_allocated(0),
        }

    run(False)  # warm-up: cuBLAS handles, optimizer state, the allocator's first segments
    blocks: dict[str, list[dict]] = {"keep_cache": [], "empty_cache_each_step": []}
    for _ in range(2):  # interleaved, so clock or thermal drift hits both alike
        blocks["keep_cache"].append(run(False))
        blocks["empty_cache_each_step"].append(run(True))
    out: dict[str, Any] = {"steps_per_block": steps, "blocks": 2, "width": width, "batch": batch}
    for name, runs in blocks.items():
        out[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["slowdown"] = out["empty_cache_each_step"]["median_step_ms"] / out["keep_cache"]["median_step_ms"]
    return out


def run_part(name: str, cap_gib: float, frag_cap_gib: float, quick: bool) -> dict:
    if name == "cap":
        return part_cap(cap_gib, quick)
    if name in FRAG_CONFIG:
        return part_frag(FRAG_CONFIG[name], frag_cap_gib, quick)
    if name == "cache":
        return part_cache(quick)
    raise ValueError(f"unknown part {name!r}; parts: {', '.join(PARTS)}")


# ----------------------------------------------------------------------------- parent side: orchestrate, report


def child_env(name: str, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    for var in ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF"):
        env.pop(var, None)
    config = FRAG_CONFIG.get(name)
    if config:  # set before the child imports torch: the only time it takes effect
        env["PYTORCH_ALLOC_CONF"] = env["PYTORCH_CUDA_ALLOC_CONF"] = config
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def spawn_part(name: str, args: argparse.Namespace, timeout: float = 150) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part",
        name,
        "--cap-gib",
        str(args.cap_gib),
        "--frag-cap-gib",
        str(args.frag_cap_gib),
    ] + (["--quick"] if args.quick else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(name))
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"error": f"part {name} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-1500:]}"}
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall_s"] = time.perf_counter() - t0
    return result


def machine_info() -> dict:
    import torch

    props = torch.cuda.get_device_properties(0)
    return {
        "gpu": props.name,
        "total_bytes": props.total_memory,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "visible_gpus": torch.cuda.device_count(),
    }


def main(argv: list[str] | None = None, spawn=spawn_part, info=machine_info, cuda_available=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the figures as JSON (e.g. docs/results/memory.json)")
    parser.add_argument("--cap-gib", type=float, default=6.0, help="per-process cap for the OOM part (GiB)")
    parser.add_argument("--frag-cap-gib", type=float, default=3.0, help="cap for the capped fragmentation run")
    parser.add_argument("--quick", action="store_true", help="fewer steps (less precise)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # internal: run one part in this process
    args = parser.parse_args(argv)
    if not 0.5 <= args.cap_gib <= 32 or not 0.5 <= args.frag_cap_gib <= 32:
        parser.error("--cap-gib and --frag-cap-gib take 0.5 to 32 GiB: enough to measure, never the whole GPU")
    if args.part:
        print("RESULT " + json.dumps(run_part(args.part, args.cap_gib, args.frag_cap_gib, args.quick)))
        return 0
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        print("No CUDA GPU here: nothing measured and nothing written. Run this on the GPU machine.", file=sys.stderr)
        return 2
    results = {
        "measured": True,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        **info(),
    }
    for name in PARTS:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = spawn(name, args)
    sys.path.insert(0, str(ROOT))
    from course_utils.memory.results import format_results

    print(format_results(results))
    failed = [name for name in PARTS if "error" in results[name]]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.out)  # a crash while writing never leaves half a file
        print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
