"""DDP with the speed options (static_graph, small buckets, gradient_as_bucket_view, the whole
step compiled, fused SGD) trains exactly like one process on the concatenated batches: 2 gloo
ranks on a CPU."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import course_utils.bench.fast_step as fs


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def data():
    g = torch.Generator().manual_seed(2)
    return torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)


def rank_main(rank: int, store: str, compile_mode: str, split: bool, out: str) -> None:
    fs.COMPILE_BACKEND = "aot_eager"
    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=2)
    model = tiny_model()
    opt, _ = fs.make_optimizer(model.parameters(), "sgd", lr=0.2, fused=True, lr_tensor=compile_mode != "none")
    # buckets below 1 MB (the first bucket's size) trip compiled DDP's DDPOptimizer
    ddp = nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True, static_graph=True, bucket_cap_mb=1)
    torch._dynamo.config.optimize_ddp = not split  # build_step must set it as asked, whatever it was
    step = fs.build_step(ddp, opt, fs.StepOptions(compile_mode, "step", amp=False, ddp_split_graph=split), "cpu")
    x, y = data()
    for _ in range(5):
        step(x[rank * 8 : (rank + 1) * 8], y[rank * 8 : (rank + 1) * 8])
    if compile_mode != "none" and torch._dynamo.config.optimize_ddp is not split:
        raise AssertionError(f"optimize_ddp is {torch._dynamo.config.optimize_ddp}, asked split={split}")
    if rank == 0:
        torch.save({k: v.detach() for k, v in model.state_dict().items()}, out)
    del step, ddp
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("compile_mode", "split"),
    [("none", True), ("default", True), ("default", False)],
    ids=["eager", "compiled-graph-per-bucket", "compiled-one-graph"],
)
def test_ddp_with_speed_options_matches_one_process(tmp_path, compile_mode, split):
    out = tmp_path / "state.pt"
    mp.start_processes(
        rank_main,
        args=(f"file://{tmp_path / 'store'}", compile_mode, split, str(out)),
        nprocs=2,
        start_method="spawn",
    )
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    x, y = data()
    for _ in range(5):  # DDP averages the ranks' gradients: the mean loss over both halves
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    got = torch.load(out)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6)
