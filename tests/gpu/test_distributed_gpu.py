"""The same paths on real GPUs (run by the GPU validation script; skipped here without one)."""

import pytest
import torch

from course_utils.distributed import TrainConfig, launch_torchrun, train
from course_utils.distributed.dp_threads import PersistentThreadDataParallel

pytestmark = pytest.mark.gpu
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")
needs_two = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 or more GPUs")

CFG = TrainConfig(model="resnet18", train_size=2048, test_size=512, epochs=1, batch_size=128)


@needs_gpu
def test_single_gpu_run_uses_bf16_channels_last_and_reports_memory():
    r = train(CFG, "single", log=None)
    assert r["label"] == "GPU" and r["amp"] == "bf16" and r["channels_last"] is True
    assert r["peak_mem_gib"] > 0 and r["img_per_s"] > 0


@needs_gpu
def test_ddp_on_every_gpu_with_nccl(tmp_path):
    n = torch.cuda.device_count()
    job = launch_torchrun(CFG, nproc=n, run_dir=tmp_path, timeout_s=300, show_progress=False, echo=False)
    r = job.result
    assert r["backend"] == "nccl" and r["world_size"] == n and r["peak_mem_gib"] > 0
    assert r["history"][-1]["eval_images"] == CFG.test_size


@needs_two
def test_dataparallel_spreads_over_gpus_and_persistent_threads_give_the_same_output():
    r = train(CFG.replace(cudnn_benchmark=False), "dataparallel", log=None)
    assert r["devices"] == torch.cuda.device_count() and r["note"] is None
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten()).cuda()
    x = torch.randn(8, 3, 16, 16, device="cuda")
    with torch.no_grad():
        ref = torch.nn.DataParallel(model, device_ids=[0, 1])(x)
        ours = PersistentThreadDataParallel(model, device_ids=[0, 1])(x)
    torch.testing.assert_close(ours, ref)


@needs_two
def test_persistent_threads_keep_the_bf16_autocast_dtype():
    model = torch.nn.Linear(16, 16).cuda()
    x = torch.randn(8, 16, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        ours = PersistentThreadDataParallel(model, device_ids=[0, 1])(x)
    assert ours.dtype == torch.bfloat16
