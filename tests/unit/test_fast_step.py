"""The fast training step (issue 18): every option trains like eager mode, on a CPU.

Compiled paths use the aot_eager backend (dynamo + AOTAutograd: the same capture, graph breaks
and recompiles as inductor, without a C++ compile that takes minutes here)."""

import pytest
import torch
from torch import nn

import course_utils.bench.fast_step as fs
from course_utils.bench.ddp_profile import summarise, union_us
from course_utils.distributed import TrainConfig, train


@pytest.fixture(autouse=True)
def cheap_backend(monkeypatch):
    monkeypatch.setattr(fs, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def tiny_run(options: fs.StepOptions, steps: int = 6, lr_tensor: bool | None = None) -> tuple[str, list[float]]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)
    ).to(memory_format=torch.channels_last)
    use_tensor = options.scope == "step" if lr_tensor is None else lr_tensor
    opt, name = fs.make_optimizer(model.parameters(), "sgd", lr=0.1, fused=options.fused, lr_tensor=use_tensor)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 10, 10, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 4, (16,), generator=g)
    step = fs.build_step(model, opt, options, "cpu")
    return name, [float(step(x, y)) for _ in range(steps)]


EAGER = fs.StepOptions(amp=False, fused=False)


@pytest.mark.parametrize(
    "options",
    [
        fs.StepOptions(amp=False, fused=True),
        fs.StepOptions("default", "model", amp=False),
        fs.StepOptions("default", "step", amp=False),
        fs.StepOptions("default", "step", amp=False, fused=False),
    ],
    ids=lambda o: f"{o.label}-{'fused' if o.fused else 'foreach'}",
)
def test_every_option_trains_like_eager_mode(options):
    _, eager = tiny_run(EAGER)
    name, losses = tiny_run(options)
    assert eager[-1] < eager[0] * 0.95, "the reference run itself must learn"
    assert losses == pytest.approx(eager, rel=1e-4, abs=1e-5)
    assert name == ("sgd-fused" if options.fused else "sgd-foreach")


def test_bf16_autocast_step_trains_close_to_fp32():
    _, eager = tiny_run(EAGER)
    _, bf16 = tiny_run(fs.StepOptions("default", "step", amp=True))
    assert bf16[-1] < bf16[0] * 0.95
    assert bf16 == pytest.approx(eager, rel=0.03)


def test_whole_step_compiles_once_and_a_new_learning_rate_does_not_recompile(monkeypatch):
    from torch._dynamo.testing import CompileCounterWithBackend

    counter = CompileCounterWithBackend("aot_eager")
    monkeypatch.setattr(fs, "COMPILE_BACKEND", counter)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    opt, _ = fs.make_optimizer(model.parameters(), "sgd", lr=0.1, fused=True, lr_tensor=True)
    step = fs.build_step(model, opt, fs.StepOptions("default", "step", amp=False), "cpu")
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for _ in range(3):
        step(x, y)
    frames = counter.frame_count
    assert frames >= 2, "forward+backward and the optimizer update are compiled"
    opt.param_groups[0]["lr"].fill_(0.01)  # what a scheduler does to a tensor learning rate
    step(x, y)
    assert counter.frame_count == frames, "changing the learning rate recompiled the step"


def test_bad_options_say_what_is_allowed():
    with pytest.raises(ValueError, match="scope must be one of model, step"):
        fs.StepOptions(scope="everything")
    with pytest.raises(ValueError, match="compile must be one of"):
        fs.StepOptions(compile="fast")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        fs.make_optimizer(nn.Linear(2, 2).parameters(), "lamb")


def test_trainer_options_round_trip_and_train_like_eager():
    tiny = TrainConfig(device="cpu", train_size=128, test_size=50, epochs=3, batch_size=16, warmup_steps=1)
    fast = tiny.replace(compile="default", compile_scope="step", fused="on")
    assert TrainConfig.from_argv(fast.to_argv()) == fast
    split = fast.replace(ddp_split_graph=True)
    assert TrainConfig.from_argv(split.to_argv()) == split, "the torchrun worker gets the choice"
    with pytest.raises(ValueError, match="compile_scope must be one of"):
        tiny.replace(compile_scope="all")
    eager = train(tiny, "single", log=None)
    compiled = train(fast, "single", log=None)
    assert compiled["optimizer"] == "adamw-fused" and eager["optimizer"] == "adamw-foreach"
    assert compiled["compile_scope"] == "step"
    assert compiled["ddp_split_graph"] is None, "only compiled DDP has a graph to split"
    assert [h["train_loss"] for h in compiled["history"]] == pytest.approx(
        [h["train_loss"] for h in eager["history"]], rel=1e-3
    )
    for run in (eager, compiled):
        assert run["history"][-1]["train_loss"] < run["history"][0]["train_loss"]


def test_union_counts_overlaps_once():
    assert union_us([(0, 10), (5, 15), (20, 25)]) == 20
    assert union_us([(0, 10), (2, 3)]) == 10
    assert union_us([]) == 0


def test_profile_summary_splits_nccl_from_compute():
    from types import SimpleNamespace as NS

    from torch.autograd import DeviceType

    def ev(name, start, end, kind=DeviceType.CUDA):
        return NS(name=name, device_type=kind, time_range=NS(start=start, end=end))

    events = [
        ev("sm90_xmma_gemm", 0, 6000),
        ev("ncclDevKernel_AllReduce_Sum_bf16_RING_LL", 4000, 9000),
        ev("aten::conv2d", 0, 9000, DeviceType.CPU),
    ]
    out = summarise(events, steps=1, wall_s=0.010, on_gpu=True)
    assert out["compute_ms_per_step"] == 6.0 and out["comm_ms_per_step"] == 5.0
    assert out["comm_overlapped_ms_per_step"] == 2.0 and out["comm_exposed_ms_per_step"] == 3.0
    assert out["gpu_idle_ms_per_step"] == 1.0 and out["compute_share_of_step"] == 0.6
