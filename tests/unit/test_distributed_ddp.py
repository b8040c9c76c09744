"""DDP under torchrun on 2 gloo processes (CPU): correctness, coverage, clean failure, two nodes.

Each torchrun job costs a few seconds of process start-up, so one job serves
several tests (module-scoped fixture).
"""

import json
import time

import psutil
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from course_utils.data import SyntheticShapes
from course_utils.distributed import (
    DistributedJobError,
    JobTimeoutError,
    TrainConfig,
    build_model,
    launch_torchrun,
)
from course_utils.distributed.compare import torch_threads

pytestmark = pytest.mark.slow

# 96 images = 2 ranks x 6 steps x 8 images: no padding, so every image is used once per epoch.
# 51 test images: odd on purpose, the evaluation must still count each exactly once.
CFG = TrainConfig(
    device="cpu",
    train_size=96,
    test_size=51,
    epochs=2,
    batch_size=8,
    optimizer="sgd",
    lr=0.05,
    momentum=0.9,
    warmup_steps=1,
    log_every=2,
    record_indices=True,
    checkpoint=True,
    timeout_s=60,
)


def no_children_left():
    return [
        p for p in psutil.Process().children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]


@pytest.fixture(scope="module")
def ddp_job(tmp_path_factory):
    return launch_torchrun(
        CFG, nproc=2, run_dir=tmp_path_factory.mktemp("ddp"), timeout_s=180, show_progress=False, echo=False
    )


def rank_batches(epoch, rank):
    sampler = DistributedSampler(range(CFG.train_size), num_replicas=2, rank=rank, shuffle=True, seed=CFG.seed)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i : i + CFG.batch_size] for i in range(0, len(order), CFG.batch_size)]


def reference_params(use_rank1=True):
    """One process, SGD on the concatenation of both ranks' batches, step by step (one thread,
    like each worker, so the float sums run in a similar order)."""
    with torch_threads(1):
        return _reference_params(use_rank1)


def _reference_params(use_rank1):
    data = SyntheticShapes(CFG.train_size, CFG.image_size, seed=CFG.seed)
    model = build_model("tinycnn", seed=CFG.seed)
    opt = torch.optim.SGD(model.parameters(), lr=CFG.lr, momentum=CFG.momentum)
    for epoch in range(CFG.epochs):
        for b0, b1 in zip(rank_batches(epoch, 0), rank_batches(epoch, 1), strict=True):
            x, y = data.batch(b0 + b1 if use_rank1 else b0)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model.state_dict()


def test_ddp_on_two_processes_equals_one_process_on_the_concatenated_batch(ddp_job):
    ddp = torch.load(ddp_job.run_dir / "checkpoint.pt", weights_only=True)["model"]
    ref = reference_params()
    assert ddp.keys() == ref.keys()
    for name in ref:
        torch.testing.assert_close(ddp[name], ref[name], rtol=1e-4, atol=1e-5, msg=name)
    # the comparison can tell: training on rank 0's half alone ends elsewhere
    half = reference_params(use_rank1=False)
    assert max((ddp[k] - half[k]).abs().max().item() for k in ref) > 1e-3


def test_the_trainer_compiled_with_ddp_as_one_graph_trains_like_eager_ddp(ddp_job, tmp_path):
    """The trainer's fast path on DDP: the whole step compiled (aot_eager: dynamo's capture and
    DDP handling without a C++ compiler), one graph with the all-reduce after backward."""
    compiled = launch_torchrun(
        CFG.replace(compile="default", compile_scope="step", fused="on"),
        nproc=2,
        run_dir=tmp_path,
        timeout_s=180,
        show_progress=False,
        echo=False,
        env={"COURSE_COMPILE_BACKEND": "aot_eager"},
    )
    assert compiled.result["ddp_split_graph"] is False and compiled.result["compile_scope"] == "step"
    got = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    eager = torch.load(ddp_job.run_dir / "checkpoint.pt", weights_only=True)["model"]
    for name in eager:
        torch.testing.assert_close(got[name], eager[name], rtol=1e-4, atol=1e-5, msg=name)


def test_every_training_image_is_seen_exactly_once_per_epoch(ddp_job):
    seen = {r: json.loads((ddp_job.run_dir / f"indices-rank{r}.json").read_text()) for r in (0, 1)}
    for epoch in ("0", "1"):
        both = seen[0][epoch] + seen[1][epoch]
        assert sorted(both) == list(range(CFG.train_size))
        assert not set(seen[0][epoch]) & set(seen[1][epoch])
    # set_epoch reshuffles: the same rank sees a different order (and set) in the next epoch
    assert seen[0]["0"] != seen[0]["1"]


def test_the_result_counts_each_test_image_once_and_is_labelled(ddp_job):
    r = ddp_job.result
    assert r["mode"] == "ddp" and r["backend"] == "gloo" and r["world_size"] == 2 and r["label"] == "CPU"
    assert r["global_batch"] == 16 and r["steps"] == 12 and r["images_trained"] == 2 * CFG.train_size
    assert [h["eval_images"] for h in r["history"]] == [51, 51]
    assert r["img_per_s"] > 0 and 0 <= r["final_accuracy"] <= 1
    assert not list(ddp_job.run_dir.glob("error-rank*.json"))
    assert not any("gloo threads still alive" in line for line in ddp_job.log)  # the ending was clean
    assert any("epoch 2/2" in line for line in ddp_job.log)  # rank 0's log reached us
    assert not any("rank 1" in line.lower() and "epoch" in line for line in ddp_job.log)


def test_a_failing_rank_ends_the_job_with_its_error():
    start = time.monotonic()
    with pytest.raises(DistributedJobError) as info:
        launch_torchrun(
            CFG.replace(fail_rank=1, fail_step=2, record_indices=False, checkpoint=False),
            nproc=2,
            timeout_s=120,
            show_progress=False,
            echo=False,
        )
    err = info.value
    assert err.rank == 1 and err.error_type == "RuntimeError"
    assert "injected failure on rank 1 at step 2" in str(err) and "_maybe_fail" in err.remote_traceback
    assert time.monotonic() - start < 90 and not no_children_left()


def test_a_rank_that_dies_without_a_traceback_is_named():
    with pytest.raises(DistributedJobError, match=r"rank 1 exited with code 13 without a Python error") as info:
        launch_torchrun(
            CFG.replace(fail_rank=1, fail_step=1, fail_mode="exit", record_indices=False, checkpoint=False),
            nproc=2,
            timeout_s=120,
            show_progress=False,
            echo=False,
        )
    assert info.value.rank == 1 and not no_children_left()


def test_a_stuck_rank_makes_its_peer_time_out_instead_of_hanging():
    start = time.monotonic()
    with pytest.raises(DistributedJobError, match=r"(?i)timed out") as info:
        launch_torchrun(
            CFG.replace(
                fail_rank=1, fail_step=1, fail_mode="hang", timeout_s=3, record_indices=False, checkpoint=False
            ),
            nproc=2,
            timeout_s=120,
            show_progress=False,
            echo=False,
        )
    assert info.value.rank == 0 and "peer rank stopped responding" in str(info.value)
    assert time.monotonic() - start < 90 and not no_children_left()


def test_the_launcher_deadline_stops_a_job_and_everything_it_started():
    start = time.monotonic()
    with pytest.raises(JobTimeoutError, match="stopped after 8 s"):
        launch_torchrun(
            CFG.replace(
                fail_rank=1, fail_step=0, fail_mode="hang", timeout_s=600, record_indices=False, checkpoint=False
            ),
            nproc=2,
            timeout_s=8,
            show_progress=False,
            echo=False,
        )
    assert time.monotonic() - start < 40 and not no_children_left()


def test_two_nodes_meet_through_a_c10d_rendezvous_and_train_the_same(ddp_job, tmp_path):
    """Two torchrun launchers (--nnodes=2, one process each) on localhost, as on two machines."""
    job = launch_torchrun(CFG, nproc=1, nnodes=2, run_dir=tmp_path, timeout_s=180, show_progress=False, echo=False)
    assert len(job.commands) == 2
    for cmd in job.commands:
        assert "--nnodes=2" in cmd and "--rdzv-backend=c10d" in cmd and "--nproc-per-node=1" in cmd
    assert job.result["world_size"] == 2 and job.result["nnodes"] == 2
    two_nodes = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    one_node = torch.load(ddp_job.run_dir / "checkpoint.pt", weights_only=True)["model"]
    for name in one_node:
        torch.testing.assert_close(two_nodes[name], one_node[name], rtol=1e-5, atol=1e-6, msg=name)
