"""Training throughput on 1..N GPUs: one GPU vs nn.DataParallel vs DDP (torchrun).

    python benchmarks/multi_gpu_bench.py --gpus 1,2,4 --out docs/results/multi_gpu.json

Workloads (torchvision models, random weights, synthetic data resident on the GPU,
SGD, ``cudnn.benchmark``, bf16 autocast, channels_last):

* ResNet-50, 224 px, 1000 classes, 256 images per GPU (``--batch``);
* ResNet-18, 32 px, 10 classes, 512 images per GPU (``--batch-r18``).

Modes per GPU count: ``single`` (1 GPU, in this process), ``dataparallel``
(``nn.DataParallel`` over the first N GPUs, in this process; with
``cudnn.benchmark`` on and off), ``ddp`` (``torchrun --nproc-per-node=N``, NCCL, one
process per GPU, ``NCCL_NVLS_ENABLE=0`` kept in the environment).

Each run warms up (``--warmup``) and then times ``--steps`` steps between two device
synchronisations. DataParallel with ``cudnn.benchmark`` on times only
``--dp-steps`` steps, each on its own, because each may take seconds. Rows are
merged into ``--out`` (a row replaces an earlier one of the same model, mode, GPU
count, batch, precision, compile mode and cudnn setting; other rows stay), after
every run, so an interrupted benchmark keeps what it measured. Runs that would
not fit in ``--budget-s`` are skipped and listed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import torch

from ..units import GIB
from .fast_step import StepOptions, build_step
from .fast_step import make_optimizer as make_fast_optimizer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "docs" / "results" / "multi_gpu.json"
WORKLOADS = {  # model -> (image size, classes, default per-GPU batch)
    "resnet50": (224, 1000, 256),
    "resnet18": (32, 10, 512),
}
COMPILE_CHOICES = ("none", "default", "max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune")
MODES = ("single", "dataparallel", "ddp")
ROW_KEY = ("model", "mode", "gpus", "batch", "dtype", "compile", "cudnn_benchmark", "device", "scope", "ddp_options")


@dataclass(frozen=True)
class Run:
    model: str
    mode: str
    gpus: int
    batch: int  # per GPU (per process on CPU)
    steps: int
    warmup: int
    compile: str = "none"
    cudnn_benchmark: bool = True
    device: str = "cuda"
    scope: str = "model"  # torch.compile the model, or the whole step (see fast_step)
    static_graph: bool = False  # DDP: the same graph every step (lets DDP skip per-step bookkeeping)
    bucket_cap_mb: int | None = None  # DDP: gradient bucket size (None: DDP's 25 MB)
    profile: bool = False  # DDP: also profile a few steps (NCCL vs compute)
    split_graph: bool = True  # compiled DDP: cut the graph at each bucket (dynamo's optimize_ddp) so that
    #                                all-reduces overlap backward; False: one graph, all-reduce after backward

    @property
    def ddp_options(self) -> str | None:
        if self.mode != "ddp":
            return None
        text = f"static_graph={self.static_graph},bucket_cap_mb={self.bucket_cap_mb or 25}"
        return text if self.split_graph or self.compile == "none" else text + ",optimize_ddp=False"

    @property
    def dtype(self) -> str:
        return "bf16" if self.device == "cuda" else "fp32"

    def describe(self) -> str:
        extra = "" if self.cudnn_benchmark else ", cudnn.benchmark off"
        extra += "" if self.compile == "none" else f", compile={self.compile} ({self.scope})"
        changed = self.static_graph or self.bucket_cap_mb or not self.split_graph
        extra += f", {self.ddp_options}" if self.ddp_options and changed else ""
        return f"{self.model} {self.mode} x{self.gpus} (batch {self.batch}/GPU{extra})"


# ---- one training step, shared by every mode -------------------------------------------------------------
def build_model(name: str, device: torch.device):
    import torchvision

    torch.manual_seed(0)
    classes = WORKLOADS[name][1]
    model = getattr(torchvision.models, name)(weights=None, num_classes=classes).to(device)
    return model.to(memory_format=torch.channels_last)


def make_optimizer(model, device: torch.device, lr_tensor: bool = False) -> tuple[torch.optim.Optimizer, str]:
    """SGD with momentum: one fused kernel for the whole update on CUDA (older builds fall back to
    foreach); ``lr_tensor`` for a compiled step (no recompiles when the rate changes)."""
    return make_fast_optimizer(
        model.parameters(), "sgd", lr=0.01, momentum=0.9, fused=device.type == "cuda", lr_tensor=lr_tensor
    )


def synthetic_batch(name: str, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    size, classes, _ = WORKLOADS[name]
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), generator=g).to(device)
    return x, y


class FixedBatchStep:
    """One training step on the fixed batch ``x, y`` (see fast_step.build_step), compiled as asked;
    ``last_loss()`` after a sync says whether training works (the loss falls)."""

    def __init__(
        self,
        model,
        opt,
        x,
        y,
        device: torch.device,
        compile: str = "none",
        scope: str = "model",
        split_graph: bool = True,
    ):
        options = StepOptions(compile, scope, amp=device.type == "cuda", ddp_split_graph=split_graph)
        self._step = build_step(model, opt, options, device.type)
        self._x, self._y = x, y
        self._last: torch.Tensor | None = None

    def __call__(self) -> None:
        self._last = self._step(self._x, self._y)  # kept, never read inside the timed loop (no host sync)

    def last_loss(self) -> float:
        if self._last is None:
            raise RuntimeError("no step has run yet")
        return round(float(self._last), 4)


def sync(devices: list[torch.device]) -> None:
    for d in devices:
        if d.type == "cuda":
            torch.cuda.synchronize(d)


def peak_gib(devices: list[torch.device]) -> list[float]:
    return [round(torch.cuda.max_memory_allocated(d) / GIB, 3) for d in devices if d.type == "cuda"]


def time_steps(step, n: int, devices: list[torch.device], each: bool) -> tuple[float, list[float]]:
    """Seconds for ``n`` steps; with ``each`` every step is timed on its own (synchronised)."""
    per_step = []
    sync(devices)
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        step()
        if each:
            sync(devices)
            per_step.append(round((time.perf_counter() - t) * 1e3, 1))
    sync(devices)
    return time.perf_counter() - start, per_step


# ---- single GPU and DataParallel, in this process ------------------------------------------------------
def run_in_process(run: Run) -> dict:
    if run.device == "cuda":
        torch.backends.cudnn.benchmark = run.cudnn_benchmark
    devices = [
        torch.device(run.device, i) if run.device == "cuda" else torch.device("cpu")
        for i in range(run.gpus if run.mode == "dataparallel" else 1)
    ]
    for d in devices:
        if d.type == "cuda":
            torch.cuda.reset_peak_memory_stats(d)
    model = build_model(run.model, devices[0])
    opt, opt_name = make_optimizer(model, devices[0], lr_tensor=run.compile != "none" and run.scope == "step")
    replica_dtypes: list[str] = []
    if run.mode == "dataparallel":
        if run.device != "cuda":
            raise RuntimeError("DataParallel needs GPUs")
        # which dtype do the replicas compute in? (autocast's dtype is thread-local)
        model.conv1.register_forward_hook(lambda m, i, o: replica_dtypes.append(str(o.dtype).replace("torch.", "")))
        net = torch.nn.DataParallel(model, device_ids=list(range(run.gpus)))
    else:
        net = model
    torch._dynamo.reset()  # each run compiles afresh: its compile time is its own
    x, y = synthetic_batch(run.model, run.batch * len(devices), devices[0])
    step = FixedBatchStep(net, opt, x, y, devices[0], run.compile, run.scope)
    t0 = time.perf_counter()
    step()  # first step alone: autotuning / compilation cost, reported separately
    sync(devices)
    first_step_s = time.perf_counter() - t0
    first_loss = step.last_loss()
    for _ in range(max(0, run.warmup - 1)):
        step()
    each = run.mode == "dataparallel"
    seconds, per_step = time_steps(step, run.steps, devices, each)
    row: dict[str, Any] = {
        "img_per_s": round(run.batch * len(devices) * run.steps / seconds, 1),
        "peak_mem_gib": max(peak_gib(devices), default=None),
        "optimizer": opt_name,
        "first_step_s": round(first_step_s, 2),
        "loss_first": first_loss,
        "loss_last": step.last_loss(),
    }
    if run.mode == "dataparallel":
        row.update(
            step_ms=per_step, peak_mem_gib_per_gpu=peak_gib(devices), replica_autocast_dtype=sorted(set(replica_dtypes))
        )
    del net, model, opt, x, y, step
    gc.collect()
    if run.device == "cuda":
        torch.cuda.empty_cache()
    return row


# ---- DDP: torchrun in a subprocess, this module as the worker ------------------------------------------
def worker_main(args: argparse.Namespace) -> int:
    """One rank of a DDP run (started by torchrun)."""
    import torch.distributed as dist

    # imported before init_process_group: see end_process_group (docs/multi-gpu.md, "Ending a DDP job")
    from ..distributed.env import end_process_group

    local_rank = int(os.environ["LOCAL_RANK"])
    on_gpu = args.device == "cuda"
    if on_gpu:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        dist.init_process_group("nccl", timeout=timedelta(seconds=180), device_id=device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo", timeout=timedelta(seconds=180))
    _ddp_rank(args, device, local_rank)  # the DDP model lives and dies in there
    left = end_process_group()
    if left:
        print(
            f"warning: gloo threads still alive after the process group ended: {', '.join(left)}",
            file=sys.stderr,
            flush=True,
        )
    return 0


def _ddp_rank(args: argparse.Namespace, device: torch.device, local_rank: int) -> None:
    import torch.distributed as dist

    on_gpu = device.type == "cuda"
    model = build_model(args.model, device)
    opt, opt_name = make_optimizer(model, device, lr_tensor=args.compile != "none" and args.scope == "step")
    ddp_kwargs = {"gradient_as_bucket_view": True, "static_graph": args.static_graph}
    if args.bucket_cap_mb:
        ddp_kwargs["bucket_cap_mb"] = args.bucket_cap_mb
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if on_gpu else None, **ddp_kwargs)
    x, y = synthetic_batch(args.model, args.batch, device)
    step = FixedBatchStep(net, opt, x, y, device, args.compile, args.scope, args.split_graph)
    t0 = time.perf_counter()
    step()
    sync([device])
    first_step_s = time.perf_counter() - t0
    first_loss = step.last_loss()
    for _ in range(max(0, args.warmup - 1)):
        step()
    dist.barrier()
    seconds, _ = time_steps(step, args.steps, [device], each=False)
    last_loss = step.last_loss()  # before the profiled steps
    stats = torch.tensor(
        [seconds, max(peak_gib([device]), default=0.0), first_step_s], dtype=torch.float64, device=device
    )
    dist.all_reduce(stats, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
    world = dist.get_world_size()
    profile = None
    if args.profile:
        from .ddp_profile import profile_steps

        profile = profile_steps(step, [device], steps=min(5, args.steps), step_s=seconds / args.steps)
    if dist.get_rank() == 0:
        slowest, peak, first = stats.tolist()
        Path(args.result).write_text(
            json.dumps(
                {
                    "img_per_s": round(world * args.batch * args.steps / slowest, 1),
                    "peak_mem_gib": round(peak, 3) if on_gpu else None,
                    "optimizer": opt_name,
                    "first_step_s": round(first, 2),
                    "world_size": world,
                    "loss_first": first_loss,
                    "loss_last": last_loss,  # rank 0's own batch
                    **({"profile": profile} if profile else {}),
                }
            )
        )


def visible_gpu_ids(n: int) -> str:
    current = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s for s in current.split(",") if s.strip()] if current else [str(i) for i in range(n)]
    return ",".join(ids[:n])


def run_ddp(run: Run, timeout_s: float) -> dict:
    from ..distributed.launch import job_env, stop_processes, torchrun_command

    with tempfile.TemporaryDirectory(prefix="ddp-bench-") as tmp:
        result = Path(tmp) / "rank0.json"
        worker_args = [
            "--worker",
            "--model",
            run.model,
            "--batch",
            str(run.batch),
            "--steps",
            str(run.steps),
            "--warmup",
            str(run.warmup),
            "--compile",
            run.compile,
            "--scope",
            run.scope,
            "--device",
            run.device,
            "--result",
            str(result),
            "--cudnn-benchmark" if run.cudnn_benchmark else "--no-cudnn-benchmark",
            "--static-graph" if run.static_graph else "--no-static-graph",
            "--split-graph" if run.split_graph else "--no-split-graph",
            "--profile" if run.profile else "--no-profile",
        ]
        if run.bucket_cap_mb:
            worker_args.append(f"--bucket-cap-mb={run.bucket_cap_mb}")
        cmd = torchrun_command(None, run.gpus, program=["-m", "course_utils.bench.multi_gpu", *worker_args])
        env = job_env(run.gpus)  # NVLink multicast off, PYTHONPATH to this checkout, cores shared
        if run.device == "cuda":
            env["CUDA_VISIBLE_DEVICES"] = visible_gpu_ids(run.gpus)
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=str(REPO_ROOT),
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_processes([proc])  # torchrun, then every rank it started: no GPU left held
            output, _ = proc.communicate()
            raise RuntimeError(
                f"DDP run stopped after {timeout_s:.0f} s (budget); last output:\n"
                + "\n".join(output.splitlines()[-15:])
            ) from None
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(
                f"torchrun exited with code {proc.returncode}; last output:\n" + "\n".join(output.splitlines()[-30:])
            )
        return json.loads(result.read_text())


# ---- planning, budget, results -------------------------------------------------------------------------
def gpu_counts(text: str | None, available: int) -> list[int]:
    """``--gpus 1,2,4`` -> [1, 2, 4]; omitted -> 1, 2, 4, ... up to every GPU present."""
    if text:
        try:
            counts = sorted({int(t) for t in text.split(",") if t.strip()})
        except ValueError:
            raise ValueError(f"--gpus takes GPU counts separated by commas, like 1,2,4; got {text!r}") from None
        if not counts or counts[0] < 1:
            raise ValueError(f"--gpus counts must be at least 1; got {text!r}")
        if counts[-1] > available:
            example = ",".join(map(str, gpu_counts(None, available)))
            raise ValueError(
                f"--gpus asks for {counts[-1]} GPUs but {available} are visible; "
                f"use counts up to {available} (e.g. --gpus {example})"
            )
        return counts
    counts, n = [1], 2
    while n <= available:
        counts.append(n)
        n *= 2
    if available > 1 and counts[-1] != available:
        counts.append(available)
    return counts


def plan(args: argparse.Namespace, counts: list[int]) -> list[Run]:
    """Cheap, decisive runs first: single (the baseline), DDP, DataParallel with cudnn.benchmark
    off, and last DataParallel with it on (seconds per step)."""
    batches = {"resnet50": args.batch, "resnet18": args.batch_r18}
    base = {
        m: Run(
            m,
            "single",
            1,
            batches[m] or WORKLOADS[m][2],
            args.steps,
            args.warmup,
            args.compile,
            True,
            args.device,
            args.scope,
        )
        for m in args.models
    }
    runs = [base[m] for m in args.models if "single" in args.modes or any(c > 1 for c in counts)]
    multi = [c for c in counts if c > 1]
    if "ddp" in args.modes:
        runs += [
            replace(
                base[m],
                mode="ddp",
                gpus=c,
                static_graph=args.static_graph,
                split_graph=args.split_graph,
                profile=args.profile,
                bucket_cap_mb=args.bucket_cap_mb,
            )
            for m in args.models
            for c in multi
        ]
    if "dataparallel" in args.modes:
        dp = [replace(base[m], mode="dataparallel", compile="none") for m in args.models]
        if args.dp_benchmark in ("off", "both"):
            runs += [replace(r, gpus=c, cudnn_benchmark=False) for r in dp for c in multi]
        if args.dp_benchmark in ("on", "both"):
            runs += [replace(r, gpus=c, steps=args.dp_steps, warmup=args.dp_warmup) for r in dp for c in multi]
    return runs


def estimate_s(run: Run, seen: dict[tuple[str, bool, bool], float]) -> float:
    """A guess of a run's wall time, replaced by what the last run of the same kind took."""
    kind = (run.mode, run.cudnn_benchmark, run.compile != "none")
    if kind in seen:
        return seen[kind]
    guess = {"single": 20.0, "ddp": 45.0, "dataparallel": 15.0}[run.mode]
    if run.mode == "dataparallel" and run.cudnn_benchmark:
        guess = 4.0 * (run.steps + run.warmup) + 5
    if run.compile != "none":  # default mode ~47 s for ResNet-50; max-autotune tries many kernels: minutes
        slow = run.compile.startswith("max-autotune")
        guess += (240.0 if slow else 60.0) if run.mode == "single" else (300.0 if slow else 90.0)
    return guess


def row_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in ROW_KEY)


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Every old row not replaced by a new one of the same key, then the new ones."""
    keys = {row_key(r) for r in new}
    return [r for r in old if row_key(r) not in keys] + new


def load_existing(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(
            f"{path} is not valid JSON ({exc}); move it aside so nothing measured is lost, then run again"
        ) from None
    return list(data.get("runs", [])) if isinstance(data, dict) else list(data)


def write_rows(path: Path, rows: list[dict], host: dict, extra: dict | None = None) -> None:
    """Write atomically; ``extra``: more top-level keys (``bench speed`` adds its run's summary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = {"updated": host["date"], "host": host, **(extra or {}), "runs": rows}
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def host_info(device: str) -> dict:
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if device == "cuda":
        info.update(
            gpu=torch.cuda.get_device_name(0),
            gpus_visible=torch.cuda.device_count(),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            nccl=_nccl_version(),
        )
    return info


def _nccl_version() -> str | None:
    try:
        v = torch.cuda.nccl.version()
    except Exception:  # no NCCL in this build: the DDP runs will say so themselves
        return None
    return ".".join(map(str, v)) if isinstance(v, tuple) else str(v)


def add_scaling(row: dict, rows: list[dict]) -> dict:
    """Scaling efficiency against the single-GPU row of the same model, batch and precision
    (cudnn.benchmark on, the same compile mode for DDP; eager for DataParallel)."""
    want = {
        "model": row["model"],
        "mode": "single",
        "gpus": 1,
        "batch": row["batch"],
        "dtype": row["dtype"],
        "cudnn_benchmark": True,
        "device": row["device"],
        "compile": row["compile"] if row["mode"] != "dataparallel" else "none",
        "scope": row.get("scope", "model") if row["mode"] != "dataparallel" else "model",
    }
    if row["mode"] == "single":
        rows = [*rows, row]  # a single-GPU row is its own baseline (100%)
    # rows written before "scope" existed compiled the model
    base = next(
        (r for r in reversed(rows) if all(r.get(k, "model" if k == "scope" else None) == v for k, v in want.items())),
        None,
    )
    if base and base.get("img_per_s"):
        row["baseline_img_per_s"] = base["img_per_s"]
        row["scaling_efficiency"] = round(row["img_per_s"] / (row["gpus"] * base["img_per_s"]), 4)
    else:
        row["baseline_img_per_s"] = row["scaling_efficiency"] = None
    return row


def make_row(run: Run, measured: dict, host: dict, wall: float) -> dict:
    return {
        "model": run.model,
        "mode": run.mode,
        "gpus": run.gpus,
        **measured,
        "date": host["date"],
        "batch": run.batch,
        "global_batch": run.batch * run.gpus,
        "image_size": WORKLOADS[run.model][0],
        "dtype": run.dtype,
        "channels_last": True,
        "compile": run.compile,
        "scope": run.scope,
        "config": StepOptions(run.compile, run.scope).label,
        "ddp_options": run.ddp_options,
        "steps": run.steps,
        "warmup_steps": run.warmup,
        "cudnn_benchmark": run.cudnn_benchmark,
        "device": run.device,
        "device_name": host.get("gpu", "CPU"),
        "gpus_visible": host.get("gpus_visible"),
        "torch": host["torch"],
        "wall_s": round(wall, 1),
    }


def format_table(rows: list[dict], skipped: list[tuple[Run, str]]) -> str:
    head = ["model", "mode", "GPUs", "batch/GPU", "cudnn.bm", "compile", "img/s", "scaling", "peak GiB", "note"]
    body = []
    for r in rows:
        note = ""
        if r["mode"] == "dataparallel":
            note = f"steps ms {r.get('step_ms')}"
            ran = r.get("replica_autocast_dtype")
            if ran and ran != [r["dtype"].replace("bf16", "bfloat16")]:
                note += f"; replicas ran {'/'.join(ran)}"
        eff = r.get("scaling_efficiency")
        body.append(
            [
                r["model"],
                r["mode"],
                str(r["gpus"]),
                str(r["batch"]),
                "on" if r["cudnn_benchmark"] else "off",
                r["compile"],
                f"{r['img_per_s']:,.0f}",
                "n/a" if eff is None else f"{100 * eff:.0f}%",
                "n/a" if r.get("peak_mem_gib") is None else f"{r['peak_mem_gib']:.1f}",
                note,
            ]
        )
    for run, why in skipped:
        body.append(
            [
                run.model,
                run.mode,
                str(run.gpus),
                str(run.batch),
                "on" if run.cudnn_benchmark else "off",
                run.compile,
                "-",
                "-",
                "-",
                why,
            ]
        )
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip() for b in body]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/multi_gpu_bench.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gpus", help="GPU counts, e.g. 1,2,4 (default: 1, 2, 4, ... up to every GPU present)")
    p.add_argument(
        "--models",
        default="resnet50,resnet18",
        type=lambda s: [m for m in s.split(",") if m],
        help="resnet50 and/or resnet18",
    )
    p.add_argument("--modes", default="single,dataparallel,ddp", type=lambda s: [m for m in s.split(",") if m])
    p.add_argument("--batch", type=int, default=None, help="ResNet-50 images per GPU (default 256)")
    p.add_argument("--batch-r18", type=int, default=None, help="ResNet-18 images per GPU (default 512)")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    p.add_argument(
        "--dp-steps",
        type=int,
        default=3,
        help="timed DataParallel steps with cudnn.benchmark on (each can take seconds; default 3)",
    )
    p.add_argument("--dp-warmup", type=int, default=1, help="their warm-up steps (default 1)")
    p.add_argument(
        "--dp-benchmark",
        choices=("on", "off", "both"),
        default="both",
        help="DataParallel with cudnn.benchmark on, off or both (default both)",
    )
    p.add_argument(
        "--compile",
        choices=COMPILE_CHOICES,
        default="none",
        help="torch.compile mode for single and DDP (about a minute per model, max-autotune "
        "several; reduce-overhead and max-autotune add CUDA graphs; default none)",
    )
    p.add_argument("--budget-s", type=float, default=480.0, help="skip runs that would end past this (default 480)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON to merge rows into (default {DEFAULT_OUT})")
    p.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cpu: a smoke test of the harness with gloo processes (not a benchmark)",
    )
    # internal: one DDP rank under torchrun
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS)
    p.add_argument(
        "--scope",
        choices=("model", "step"),
        default="model",
        help="what --compile wraps: the model (default) or the whole step with the optimizer",
    )
    p.add_argument(
        "--static-graph",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="DDP static_graph=True (default off)",
    )
    p.add_argument(
        "--split-graph",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compiled DDP: one graph per gradient bucket, all-reduces overlapping backward (default); "
        "--no-split-graph compiles one graph and all-reduces after backward",
    )
    p.add_argument(
        "--bucket-cap-mb",
        type=int,
        default=None,
        help="DDP gradient bucket size in MB (default 25; at least 1: compiled DDP's first "
        "bucket is 1 MB and may not be larger than the others)",
    )
    p.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="DDP: profile 5 steps after the timed ones (NCCL against compute)",
    )
    return p


def validate(args: argparse.Namespace) -> None:
    bad_models = [m for m in args.models if m not in WORKLOADS]
    bad_modes = [m for m in args.modes if m not in MODES]
    if bad_models or bad_modes:
        raise ValueError(
            f"unknown {'models ' + str(bad_models) if bad_models else 'modes ' + str(bad_modes)}; "
            f"models: {', '.join(WORKLOADS)}; modes: {', '.join(MODES)}"
        )
    for name in ("steps", "warmup", "dp_steps", "batch", "batch_r18", "bucket_cap_mb"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "warmup" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number, got {value}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker_main(args)
    try:
        validate(args)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "no CUDA GPU is visible (python -m course_utils doctor says why); "
                "--device cpu runs a smoke test of the harness instead"
            )
        available = torch.cuda.device_count() if args.device == "cuda" else (os.cpu_count() or 1)
        counts = gpu_counts(args.gpus, available)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        torch.set_float32_matmul_precision("high")
    else:
        args.modes = [m for m in args.modes if m != "dataparallel"]  # nothing to spread over without GPUs
    host = host_info(args.device)
    existing = load_existing(args.out)
    runs = plan(args, counts)
    print(
        f"{len(runs)} runs on {host.get('gpu', 'CPU')} (counts {counts}), budget {args.budget_s:.0f} s; "
        f"results merge into {args.out}",
        flush=True,
    )
    start = time.monotonic()
    done: list[dict] = []
    skipped: list[tuple[Run, str]] = []
    seen: dict = {}
    for run in runs:
        left = args.budget_s - (time.monotonic() - start)
        need = estimate_s(run, seen)
        if need > left:
            skipped.append((run, f"skipped: ~{need:.0f} s needed, {max(0, left):.0f} s of budget left"))
            print(f"  skip {run.describe()}: over budget", flush=True)
            continue
        t0 = time.monotonic()
        print(f"  run  {run.describe()} ...", flush=True)
        try:
            measured = run_ddp(run, timeout_s=max(30.0, left)) if run.mode == "ddp" else run_in_process(run)
        except Exception as exc:  # one failed configuration (OOM, NCCL) must not lose the others
            skipped.append((run, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"))
            print(f"  FAILED {run.describe()}: {exc}", flush=True)
            if run.device == "cuda":
                gc.collect()
                torch.cuda.empty_cache()
            continue
        wall = time.monotonic() - t0
        seen[(run.mode, run.cudnn_benchmark, run.compile != "none")] = wall
        row = add_scaling(make_row(run, measured, host, wall), done + existing)
        done.append(row)
        print(
            f"       {row['img_per_s']:,.0f} img/s"
            + (f", scaling {100 * row['scaling_efficiency']:.0f}%" if row["scaling_efficiency"] else "")
            + f" ({wall:.0f} s)",
            flush=True,
        )
        write_rows(args.out, merge_rows(existing, done), host)
    print()
    print(format_table(done, skipped))
    print(f"\n{len(done)} runs measured in {time.monotonic() - start:.0f} s; written to {args.out}")
    return 0 if done or not runs else 1


if __name__ == "__main__":
    sys.exit(main())
