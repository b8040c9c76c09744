"""The reference training loop, one for all three ways of using several devices.

* ``single``: one process, one device (CPU or one GPU).
* ``dataparallel``: one process drives every GPU through ``nn.DataParallel``
  (on a CPU-only machine the wrapper does nothing; the result says so).
* ``ddp``: one process per device under ``torchrun``, ``DistributedDataParallel``,
  ``DistributedSampler`` with ``set_epoch``; NCCL on GPUs, gloo on CPU.

On a GPU every mode uses bf16 autocast and channels_last (unless told
otherwise) and may ``torch.compile`` the model. Throughput is measured over
training steps only, after ``warmup_steps`` (autotuning, compilation), with the
device synchronised at both ends, so it is what the GPUs did, not what was
queued.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from ..bench.fast_step import StepOptions, build_step, make_optimizer
from ..data import load_dataset
from ..units import GIB
from .checkpoint import FILENAME as CHECKPOINT_FILE
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .env import DistEnv, end_process_group, init_from_torchrun, single_env
from .models import build_model

MODES = ("single", "dataparallel", "ddp")
EventSink = Callable[[dict], None]


def train(
    cfg: TrainConfig, mode: str = "single", on_event: EventSink | None = None, log: Callable[[str], None] | None = print
) -> dict:
    """Train as ``cfg`` says, in ``mode``; returns the result (also written to
    ``run_dir/result.json`` by rank 0 when ``run_dir`` is set).

    ``on_event`` gets progress events on rank 0 only; ``log`` prints rank 0's
    summary lines (the other ranks stay quiet, except for errors).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    cfg.validate()
    if (cfg.checkpoint or cfg.resume or cfg.record_indices) and not cfg.run_dir:
        raise ValueError("checkpoint, resume and record_indices need run_dir (where to keep the files)")
    env = init_from_torchrun(cfg.device, cfg.timeout_s) if mode == "ddp" else single_env(cfg.device)
    run = _Run(cfg, mode, env, on_event if env.is_main else None, log if env.is_main else None)
    result = run.run()
    if env.distributed:
        # Only on success: after a failure a peer may be gone, and the exit tears everything down.
        # The run (its DDP model) goes first, so that ending the group really frees it and joins
        # gloo's threads before Python shuts down (docs/multi-gpu.md, "Ending a DDP job").
        del run
        left = end_process_group()
        if left:
            print(
                f"warning: rank {env.rank}: gloo threads still alive after the process group ended: "
                f"{', '.join(left)}; something still holds the group, and the exit may crash",
                file=sys.stderr,
                flush=True,
            )
    return result


def _num_classes(ds) -> int:
    while isinstance(ds, Subset):
        ds = ds.dataset
    return len(ds.classes)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _size(dataset: Dataset) -> int:
    """len() of a map-style data set: every one the course loads has it; torch's ``Dataset`` type
    does not declare ``__len__``."""
    return len(dataset)  # type: ignore[arg-type]


class _Run:
    def __init__(
        self, cfg: TrainConfig, mode: str, env: DistEnv, on_event: EventSink | None, log: Callable[[str], None] | None
    ):
        self.cfg, self.mode, self.env = cfg, mode, env
        self.on_event, self.log = on_event, log
        self.device = env.device
        self.on_gpu = self.device.type == "cuda"
        self.amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.on_gpu)
        self.channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and self.on_gpu)
        self.run_dir = Path(cfg.run_dir) if cfg.run_dir else None

    # ---- small helpers ------------------------------------------------------------------------
    def _emit(self, **event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _reduce(self, values: list[float], op=None) -> list[float]:
        if not self.env.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
        return t.tolist()

    def _prepare(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    # ---- set-up -------------------------------------------------------------------------------
    def _gpus_for_dataparallel(self) -> list[int]:
        if not self.on_gpu:
            if torch.cuda.is_available():  # DataParallel would insist on the GPUs it can see
                raise ValueError(
                    "DataParallel with device='cpu' on a machine with GPUs is not possible: "
                    "use device='auto' (or 'cuda'), or mode='single' for a CPU run"
                )
            return []
        available = torch.cuda.device_count()
        n = self.cfg.gpus or available
        if n > available:
            raise ValueError(f"gpus={n} but only {available} GPU(s) are visible")
        return list(range(n))

    def _build(self) -> None:
        cfg, env = self.cfg, self.env
        if self.on_gpu:
            torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        self.train_ds = load_dataset(
            cfg.dataset, "train", image_size=cfg.image_size, n=cfg.train_size, seed=cfg.seed, root=cfg.data_root
        )
        self.test_ds = load_dataset(
            cfg.dataset, "test", image_size=cfg.image_size, n=cfg.test_size, seed=cfg.seed, root=cfg.data_root
        )
        raw = build_model(cfg.model, _num_classes(self.train_ds), seed=cfg.seed).to(self.device)
        if self.channels_last:
            raw = raw.to(memory_format=torch.channels_last)
        fused = cfg.fused == "on" or (cfg.fused == "auto" and self.on_gpu)
        compile_step = cfg.compile != "none" and cfg.compile_scope == "step"
        opt, self.optimizer_name = make_optimizer(
            raw.parameters(),
            cfg.optimizer,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            fused=fused,
            lr_tensor=compile_step,
        )
        self.start_epoch = 0
        ckpt = self.run_dir / CHECKPOINT_FILE if self.run_dir else None
        if cfg.resume and ckpt is not None and ckpt.exists():
            self.start_epoch = load_checkpoint(ckpt, raw, opt, cfg, map_location=self.device) + 1
            self._say(f"resumed from {ckpt} after epoch {self.start_epoch}")

        self.dp_gpus = self._gpus_for_dataparallel() if self.mode == "dataparallel" else []
        model: torch.nn.Module
        if self.mode == "ddp":
            ids = [self.device.index] if self.on_gpu else None
            model = torch.nn.parallel.DistributedDataParallel(raw, device_ids=ids, gradient_as_bucket_view=True)
            self.devices_used = env.world_size
        elif self.mode == "dataparallel":
            # with no GPU (device_ids empty) DataParallel just calls the module: we run it anyway, and say so
            model = torch.nn.DataParallel(raw, device_ids=self.dp_gpus) if self.dp_gpus else torch.nn.DataParallel(raw)
            self.devices_used = max(1, len(self.dp_gpus))
        else:
            model = raw
            self.devices_used = 1
        self.raw, self.model, self.opt = raw, model, opt
        # compiles the model, or the whole step (forward, backward, update), as cfg.compile_scope says
        self.step = build_step(
            model,
            opt,
            StepOptions(cfg.compile, cfg.compile_scope, self.amp, fused, cfg.ddp_split_graph),
            self.device.type,
        )

        # every mode draws its order from the same DistributedSampler, so one process sees
        # exactly the global permutation that DDP ranks split between them
        self.sampler: DistributedSampler[int] = DistributedSampler(
            self.train_ds, num_replicas=env.world_size, rank=env.rank, shuffle=True, seed=cfg.seed, drop_last=False
        )
        self.loader_batch = cfg.batch_size * (len(self.dp_gpus) if self.dp_gpus else 1)
        self.loader: TensorBatches | DataLoader
        if cfg.preload:
            self.loader = TensorBatches(*materialize(self.train_ds, self.device), self.sampler, self.loader_batch)
        else:
            self.loader = DataLoader(
                self.train_ds,
                batch_size=self.loader_batch,
                sampler=self.sampler,
                num_workers=cfg.num_workers,
                pin_memory=self.on_gpu,
                persistent_workers=cfg.num_workers > 0,
            )
        self.steps_per_epoch = min(len(self.loader), cfg.max_steps or len(self.loader))
        padded = self.sampler.total_size - _size(self.train_ds)
        if padded:
            self._say(
                f"note: {_size(self.train_ds)} training images do not split evenly over {env.world_size} ranks; "
                f"DistributedSampler repeats {padded} of them each epoch (choose a multiple of the world size "
                "to see every image exactly once)"
            )

    # ---- the loop -----------------------------------------------------------------------------
    def _maybe_fail(self, step: int) -> None:
        cfg = self.cfg
        if cfg.fail_rank is None or cfg.fail_rank != self.env.rank or step != cfg.fail_step:
            return
        if cfg.fail_mode == "exit":
            os._exit(13)  # a crash with no Python traceback (like a segfault or the OOM killer)
        if cfg.fail_mode == "hang":
            time.sleep(10**6)  # a stuck rank: its peers must time out, not wait forever
        raise RuntimeError(f"injected failure on rank {self.env.rank} at step {step} (fail_rank={cfg.fail_rank})")

    def _train_epoch(self, epoch: int, global_step: int) -> tuple[int, float, float, int, float]:
        """Returns (global_step, mean loss, timed seconds, timed images, all images)."""
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        images = timed_images = 0
        t_start = None
        for i, (x, y) in enumerate(self.loader):
            if i >= self.steps_per_epoch:
                break
            if t_start is None and global_step >= self.cfg.warmup_steps:
                _sync(self.device)
                t_start = time.perf_counter()
            self._maybe_fail(global_step)
            x, y = self._prepare(x, y)
            loss = self.step(x, y)  # no .item() here: the host does not wait for the device
            loss_sum += loss.float()
            global_step += 1
            images += x.shape[0]
            if t_start is not None:
                timed_images += x.shape[0]
            if self.on_event is not None and (global_step % self.cfg.log_every == 0 or i + 1 == self.steps_per_epoch):
                self._emit(event="step", step=global_step, epoch=epoch, loss=round(loss.item(), 5))
        _sync(self.device)
        timed = time.perf_counter() - t_start if t_start is not None else 0.0
        return global_step, loss_sum.item() / max(1, self.steps_per_epoch), timed, timed_images, images

    @torch.no_grad()
    def _evaluate(self) -> tuple[float, float, int]:
        """Accuracy and loss on the test set, each image counted exactly once: every rank takes
        ``rank::world`` (no padding, unlike DistributedSampler) and the sums are all-reduced.
        Uses the unwrapped model, so ranks with one batch more or less never wait on each other."""
        self.raw.eval()
        shard = Subset(self.test_ds, range(self.env.rank, _size(self.test_ds), self.env.world_size))
        loader = DataLoader(shard, batch_size=self.cfg.batch_size * 2, num_workers=self.cfg.num_workers)
        correct = total = 0
        loss_sum = 0.0
        for x, y in loader:
            x, y = self._prepare(x, y)
            with self._autocast():
                logits = self.raw(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += int((logits.argmax(1) == y).sum())
            total += y.numel()
        correct_sum, total_sum, loss_sum = self._reduce([correct, total, loss_sum])
        return correct_sum / max(1, total_sum), loss_sum / max(1, total_sum), int(total_sum)

    def _record_indices(self, epoch: int) -> None:
        assert self.run_dir is not None  # __init__ refuses record_indices without run_dir
        path = self.run_dir / f"indices-rank{self.env.rank}.json"
        # a resumed run adds its epochs; a fresh one starts a new record
        seen = json.loads(path.read_text()) if path.exists() and epoch > 0 else {}
        order = list(iter(self.sampler))  # the order the loader used this epoch (set_epoch fixed it)
        seen[str(epoch)] = order[: self.steps_per_epoch * self.loader_batch]
        path.write_text(json.dumps(seen))

    def _peak_mem_gib(self) -> float | None:
        if not self.on_gpu:
            return None
        devices = self.dp_gpus or [self.device.index]
        peak = max(torch.cuda.max_memory_allocated(d) for d in devices) / GIB
        return self._reduce([peak], op=dist.ReduceOp.MAX)[0]

    def run(self) -> dict:
        cfg, env = self.cfg, self.env
        t0 = time.perf_counter()
        self._build()
        if self.on_gpu:
            for d in self.dp_gpus or [self.device.index]:
                torch.cuda.reset_peak_memory_stats(d)
        epochs = range(self.start_epoch, cfg.epochs)
        self._emit(
            event="start",
            total_steps=self.steps_per_epoch * len(epochs),
            mode=self.mode,
            world_size=env.world_size,
            devices=self.devices_used,
            device=self.device.type,
        )
        self._say(
            f"{self.mode}: {cfg.model} on {self.devices_used} x {self._device_name()}"
            f"{f' ({env.world_size} processes, {env.backend})' if env.distributed else ''}, "
            f"{_size(self.train_ds)} training images of {cfg.image_size} px, batch {cfg.batch_size} per device"
        )
        history, global_step = [], self.start_epoch * self.steps_per_epoch
        timed_s = timed_images = 0.0
        all_images = 0.0
        for epoch in epochs:
            self.sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
            if cfg.record_indices:
                self._record_indices(epoch)
            global_step, loss, secs, n_timed, n_all = self._train_epoch(epoch, global_step)
            timed_s += secs
            timed_images += n_timed
            all_images += n_all
            loss = self._reduce([loss])[0] / env.world_size
            acc, test_loss, n_eval = self._evaluate()
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": round(loss, 5),
                    "test_loss": round(test_loss, 5),
                    "accuracy": round(acc, 5),
                    "eval_images": n_eval,
                }
            )
            self._emit(event="epoch", epoch=epoch, loss=loss, accuracy=acc)
            self._say(
                f"epoch {epoch + 1}/{cfg.epochs}: train loss {loss:.3f}, test accuracy {acc:.1%} ({n_eval} test images)"
            )
            if cfg.checkpoint and env.is_main and self.run_dir is not None:  # __init__: checkpoint needs run_dir
                save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.raw, self.opt, epoch, cfg)
        (images_sum,) = self._reduce([float(timed_images)])
        (slowest_s,) = self._reduce([timed_s], op=dist.ReduceOp.MAX)
        result = self._result(
            history,
            images_sum / slowest_s if slowest_s > 0 else None,
            self._reduce([float(all_images)])[0],
            time.perf_counter() - t0,
        )
        if env.is_main and self.run_dir is not None:
            _write_json_atomic(self.run_dir / "result.json", result)
        self._emit(event="done", img_per_s=result["img_per_s"], accuracy=result["final_accuracy"])
        return result

    def _device_name(self) -> str:
        if self.on_gpu:
            return torch.cuda.get_device_name(self.device)
        return f"CPU ({os.cpu_count()} cores, {platform.machine()})"

    def _result(self, history: list[dict], img_per_s: float | None, images: float, elapsed: float) -> dict:
        cfg, env = self.cfg, self.env
        last = history[-1] if history else {}
        peak = self._peak_mem_gib()  # a collective under DDP: every rank calls it once
        note = None
        if self.mode == "dataparallel" and len(self.dp_gpus) <= 1:
            where = "one GPU" if self.dp_gpus else "no GPU"
            note = (
                f"{where}: DataParallel only called the model (one device): the same work as single; "
                "img/s differ only by timing noise on a shared CPU"
            )
        return {
            "mode": self.mode,
            "label": "GPU" if self.on_gpu else "CPU",
            "device": self.device.type,
            "device_name": self._device_name(),
            "backend": env.backend,
            "world_size": env.world_size,
            "nnodes": env.nnodes,
            "devices": self.devices_used,
            "model": cfg.model,
            "dataset": cfg.dataset,
            "image_size": cfg.image_size,
            "train_images": _size(self.train_ds),
            "batch_per_device": cfg.batch_size,
            "global_batch": cfg.batch_size * self.devices_used,
            "epochs": cfg.epochs,
            "steps": self.steps_per_epoch * (cfg.epochs - self.start_epoch),
            "images_trained": int(images),
            "img_per_s": None if img_per_s is None else round(img_per_s, 2),
            "final_accuracy": last.get("accuracy"),
            "final_loss": last.get("train_loss"),
            "peak_mem_gib": None if peak is None else round(peak, 3),
            "amp": "bf16" if self.amp else "none",
            "channels_last": self.channels_last,
            "compile": cfg.compile,
            "compile_scope": cfg.compile_scope,
            "ddp_split_graph": cfg.ddp_split_graph if self.mode == "ddp" and cfg.compile != "none" else None,
            "optimizer": self.optimizer_name,
            "cudnn_benchmark": cfg.cudnn_benchmark if self.on_gpu else None,
            "threads_per_process": torch.get_num_threads(),
            "elapsed_s": round(elapsed, 2),
            "history": history,
            "checkpoint": str(self.run_dir / CHECKPOINT_FILE) if cfg.checkpoint and self.run_dir else None,
            "note": note,
            "torch": torch.__version__,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        }


def materialize(ds, device: torch.device, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole data set as two tensors on ``device`` (synthetic images are drawn once, in chunks)."""
    xs, ys = [], []
    if hasattr(ds, "batch"):
        for start in range(0, len(ds), chunk):
            x, y = ds.batch(range(start, min(len(ds), start + chunk)))
            xs.append(x)
            ys.append(y)
    else:
        for x, y in DataLoader(ds, batch_size=chunk):
            xs.append(x)
            ys.append(torch.as_tensor(y))
    return torch.cat(xs).to(device), torch.cat(ys).to(device)


class TensorBatches:
    """Batches cut from tensors already on the device, in the sampler's order: what a DataLoader
    over the same sampler would yield, without the per-step copy from host memory."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, sampler, batch_size: int):
        self.images, self.labels, self.sampler, self.batch_size = images, labels, sampler, batch_size

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self):
        order = torch.tensor(list(iter(self.sampler)), device=self.images.device)
        for idx in order.split(self.batch_size):
            yield self.images[idx], self.labels[idx]


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
