"""One training configuration, the same for a notebook call and a torchrun worker.

The worker is started by ``torchrun`` in fresh processes, so the configuration
travels as command-line flags; ``to_argv`` and ``from_argv`` are exact inverses.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, fields

from ..bench.fast_step import COMPILE_MODES, SCOPES
from .models import MODELS

OPTIMIZERS = ("adamw", "sgd")
FAIL_MODES = ("raise", "exit", "hang")


@dataclass
class TrainConfig:
    """Everything one training run needs. Batch sizes are per device (per GPU, or per
    process on CPU): DataParallel splits ``batch_size * gpus`` over its GPUs, DDP gives
    each rank ``batch_size``, so every mode does the same work per device."""

    model: str = "tinycnn"
    dataset: str = "shapes"  # shapes | cifar10 | folder:PATH
    data_root: str | None = None  # where real data sets live (default: see course_utils.data.data_roots)
    image_size: int = 32
    train_size: int | None = 4096  # None: the whole (real) data set
    test_size: int | None = 1000
    epochs: int = 2
    max_steps: int | None = None  # stop each epoch after this many steps (quick runs)
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    gpus: int | None = None  # DataParallel: how many GPUs (default all)
    amp: str = "auto"  # auto (bf16 on GPU, off on CPU) | bf16 | none
    channels_last: str = "auto"  # auto (on for GPU) | on | off
    compile: str = "none"
    compile_scope: str = "model"  # model | step (forward, backward and optimizer in one torch.compile)
    # compiled DDP: a graph per gradient bucket so all-reduces overlap backward (PyTorch's default),
    # or one graph and the all-reduce after it: 97% against 95% scaling on 2 H200s over NVLink
    # (docs/performance.md); split pays off where the link is slow (PCIe, between hosts)
    ddp_split_graph: bool = False
    fused: str = "auto"  # fused optimizer kernel: auto (on GPU) | on | off
    cudnn_benchmark: bool = True
    num_workers: int = 0
    preload: bool = False  # draw/read the data once and keep it on the device (no loader in the loop)
    warmup_steps: int = 2  # not timed: first steps pay for autotuning and compilation
    log_every: int = 10
    run_dir: str | None = None  # result.json, error files, checkpoints
    checkpoint: bool = False  # rank 0 saves run_dir/checkpoint.pt after every epoch
    resume: bool = False  # start from run_dir/checkpoint.pt when it exists
    timeout_s: float = 300.0  # a collective that waits longer than this fails (no hung ranks)
    record_indices: bool = False  # write the sample indices each rank trained on (tests)
    fail_rank: int | None = None  # inject a failure on this rank (demonstrations and tests)
    fail_step: int = 0
    fail_mode: str = "raise"  # raise | exit (dies without a traceback) | hang

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def positive_int(name, allow_none=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive whole number{' or None' if allow_none else ''}, got {v!r}")

        for name in ("image_size", "epochs", "batch_size", "log_every"):
            positive_int(name)
        for name in ("train_size", "test_size", "max_steps", "gpus"):
            positive_int(name, allow_none=True)
        choices = {
            "model": MODELS,
            "optimizer": OPTIMIZERS,
            "device": ("auto", "cpu", "cuda"),
            "amp": ("auto", "bf16", "none"),
            "channels_last": ("auto", "on", "off"),
            "compile": COMPILE_MODES,
            "compile_scope": SCOPES,
            "fused": ("auto", "on", "off"),
            "fail_mode": FAIL_MODES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s!r}")
        if self.num_workers < 0 or self.warmup_steps < 0 or self.fail_step < 0:
            raise ValueError("num_workers, warmup_steps and fail_step cannot be negative")

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_argv(self) -> list[str]:
        """Flags for the worker, only those that differ from the defaults."""
        argv = []
        default = TrainConfig()
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else "--no-" + f.name.replace("_", "-"))
            else:  # FLAG=VALUE: a value that starts with "-" is not mistaken for a flag
                argv.append(f"{flag}={'none' if value is None else value}")
        return argv

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for f in fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default
            if isinstance(default, bool):
                parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default)
                continue
            kind = {"int": int, "float": float}.get(_base_type(f.type), str)
            parser.add_argument(
                flag, dest=f.name, type=_optional(kind) if "None" in str(f.type) else kind, default=default
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    @classmethod
    def from_argv(cls, argv: list[str]) -> TrainConfig:
        parser = argparse.ArgumentParser()
        cls.add_arguments(parser)
        return cls.from_args(parser.parse_args(argv))


def _base_type(annotation) -> str:
    text = str(annotation)
    for name in ("int", "float", "bool"):
        if text.startswith(name):
            return name
    return "str"


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse
