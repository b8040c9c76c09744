"""The fastest training step the course knows, shared by the trainer and the benchmarks.

One step = forward under bf16 autocast, cross-entropy, backward, optimizer step, gradients set
to ``None``. What can make it faster, each a choice here so a benchmark can measure it:

* ``fused``: the optimizer updates every parameter in one kernel (``fused=True``; on CUDA, and
  on CPU for SGD/Adam/AdamW in recent PyTorch), instead of a loop of small kernels;
* ``scope``: ``torch.compile`` the model only, or the whole step (forward + backward +
  optimizer): the optimizer's update is then fused by the compiler too. Its learning rate is
  a tensor, so changing it (a scheduler) changes data, not code, and never recompiles;
* ``compile`` mode: ``default`` (short compile), ``max-autotune-no-cudagraphs`` (tries kernel
  variants: minutes), ``reduce-overhead`` / ``max-autotune`` (replay CUDA graphs: no per-kernel
  launch cost, which matters most for small models).
* ``ddp_split_graph`` (compiled DDP only): dynamo's DDPOptimizer cuts the graph at every
  gradient bucket so each all-reduce overlaps the rest of backward (PyTorch's default), or
  one graph with every all-reduce after backward. On 2 H200s with NVLink one graph scaled
  at 97% against 95% (docs/performance.md): the pieces fuse less and DDP's hooks run on
  the host between them, which costs more than the 0.4 ms of all-reduce left exposed.

The step returns the loss as a tensor and never calls ``.item()``: reading it would make the
host wait for the GPU at every step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")
SCOPES = ("model", "step")
# Tests and `bench speed --device cpu` use "aot_eager" (dynamo + AOTAutograd, no C++ compiler):
# the same graph capture, graph breaks and recompiles as inductor, in seconds instead of minutes
# on a CPU. Read from the environment so that torchrun workers follow their parent.
BACKEND_ENV = "COURSE_COMPILE_BACKEND"
COMPILE_BACKEND = os.environ.get(BACKEND_ENV, "inductor")


@dataclass(frozen=True)
class StepOptions:
    compile: str = "none"  # one of COMPILE_MODES
    scope: str = "model"  # what torch.compile wraps: the model, or the whole step
    amp: bool = True  # bf16 autocast
    fused: bool = True  # fused optimizer kernel (when this PyTorch has one for the device)
    ddp_split_graph: bool = True  # compiled DDP: a graph per gradient bucket (overlap) or one graph

    def __post_init__(self) -> None:
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be one of {', '.join(COMPILE_MODES)}; got {self.compile!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {self.scope!r}")

    @property
    def label(self) -> str:
        """A short name for a results row: eager, compiled(model), compiled(step), CUDA graphs..."""
        if self.compile == "none":
            return "eager"
        graphs = " + CUDA graphs" if self.compile in ("reduce-overhead", "max-autotune") else ""
        return f"compiled {self.compile} ({self.scope}){graphs}"


def compile_fn(fn, mode: str):
    """``torch.compile(fn, mode=...)``, or ``fn`` itself for ``none``."""
    if mode == "none":
        return fn
    if COMPILE_BACKEND != "inductor":  # modes are inductor's; other backends take none
        return torch.compile(fn, backend=COMPILE_BACKEND)
    return torch.compile(fn, mode=None if mode == "default" else mode)


def make_optimizer(
    params,
    kind: str = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    fused: bool = True,
    lr_tensor: bool = False,
) -> tuple[torch.optim.Optimizer, str]:
    """SGD (momentum) or AdamW; fused when asked and supported, else PyTorch's foreach default.
    Returns the optimizer and its name for results (``sgd-fused``, ``adamw-foreach``...).
    ``lr_tensor``: the learning rate as a 0-d tensor (for a compiled step: no recompiles)."""
    params = list(params)
    rate = torch.tensor(lr, device=params[0].device) if lr_tensor else lr
    make = {
        "sgd": lambda **kw: torch.optim.SGD(params, lr=rate, momentum=momentum, weight_decay=weight_decay, **kw),
        "adamw": lambda **kw: torch.optim.AdamW(params, lr=rate, weight_decay=weight_decay, **kw),
    }
    if kind not in make:
        raise ValueError(f"optimizer must be one of {', '.join(make)}; got {kind!r}")
    if fused:
        try:
            return make[kind](fused=True), f"{kind}-fused"
        except (TypeError, RuntimeError, ValueError):  # no fused kernel for this device or build
            pass
    try:
        return make[kind](), f"{kind}-foreach"
    except (TypeError, RuntimeError, ValueError):
        if not lr_tensor:
            raise
        rate = lr  # an old build that takes no tensor learning rate on this path
        return make[kind](), f"{kind}-foreach"


def build_step(
    model: torch.nn.Module, opt: torch.optim.Optimizer, options: StepOptions, device_type: str
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``step(x, y) -> loss`` (a detached tensor): one training step as ``options`` say.

    With ``scope='model'`` the model is compiled and the step around it stays Python; with
    ``scope='step'`` the whole function is (dynamo splits it at ``backward()``: forward and
    backward are one AOT graph, the optimizer update another)."""
    amp = options.amp
    if options.compile != "none" and isinstance(model, torch.nn.parallel.DistributedDataParallel):
        # read by dynamo when it compiles (the first call), for every DDP module of the process
        torch._dynamo.config.optimize_ddp = options.ddp_split_graph

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)  # after the update: the gradients' memory is free for the next forward
        return loss.detach()

    if options.scope == "model":
        net = compile_fn(model, options.compile)
        compiled = step
    else:
        net = model
        compiled = compile_fn(step, options.compile)
    if options.compile not in ("reduce-overhead", "max-autotune") or device_type != "cuda":
        return compiled

    def graphed_step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # a new iteration for CUDA graph trees: the last step's outputs may be overwritten now
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(x, y)

    return graphed_step
