"""The reference loop in one process: results, DataParallel on CPU, checkpoints and resume."""

import json
import os
import stat

import pytest
import torch

from course_utils.distributed import TrainConfig, build_model, train
from course_utils.distributed.checkpoint import load_checkpoint, save_checkpoint
from course_utils.distributed.compare import torch_threads

TINY = TrainConfig(device="cpu", train_size=128, test_size=50, epochs=2, batch_size=16, warmup_steps=1)


def test_single_run_reports_what_it_measured(tmp_path):
    events = []
    result = train(TINY.replace(run_dir=str(tmp_path)), "single", on_event=events.append, log=None)
    assert result["mode"] == "single" and result["label"] == "CPU" and result["world_size"] == 1
    assert result["steps"] == 16 and result["images_trained"] == 256
    assert result["img_per_s"] > 0 and 0 <= result["final_accuracy"] <= 1
    assert result["peak_mem_gib"] is None  # no GPU here, and we say so rather than write 0
    assert [h["eval_images"] for h in result["history"]] == [50, 50]
    assert json.loads((tmp_path / "result.json").read_text()) == result
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert events[0]["total_steps"] == 16 and max(e.get("step", 0) for e in events) == 16


@pytest.mark.skipif(torch.cuda.is_available(), reason="GPUs are visible: DataParallel would use them")
def test_dataparallel_without_gpus_runs_and_says_it_is_single():
    with torch_threads(1):
        single = train(TINY, "single", log=None)
        dp = train(TINY, "dataparallel", log=None)
    assert dp["devices"] == 1 and "no GPU" in dp["note"]
    # the wrapper only called the model: same data order, same weights, same outcome
    assert dp["final_loss"] == pytest.approx(single["final_loss"], rel=1e-5)


def test_checkpoint_then_resume_continues_from_the_next_epoch(tmp_path):
    first = train(TINY.replace(epochs=1, checkpoint=True, run_dir=str(tmp_path)), "single", log=None)
    ckpt = tmp_path / "checkpoint.pt"
    assert first["checkpoint"] == str(ckpt) and ckpt.exists()
    model = build_model("tinycnn", seed=None)
    assert load_checkpoint(ckpt, model, None, TINY) == 0
    resumed = train(TINY.replace(epochs=2, resume=True, checkpoint=True, run_dir=str(tmp_path)), "single", log=None)
    assert [h["epoch"] for h in resumed["history"]] == [1] and resumed["steps"] == 8
    with pytest.raises(ValueError, match="resume with the same settings"):
        load_checkpoint(ckpt, model, None, TINY.replace(image_size=64))


def test_resume_from_scratch_equals_one_long_run(tmp_path):
    torch.manual_seed(0)
    straight = train(TINY.replace(optimizer="sgd", lr=0.05), "single", log=None)
    train(TINY.replace(optimizer="sgd", lr=0.05, epochs=1, checkpoint=True, run_dir=str(tmp_path)), "single", log=None)
    resumed = train(TINY.replace(optimizer="sgd", lr=0.05, resume=True, run_dir=str(tmp_path)), "single", log=None)
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-4)


def test_files_need_a_run_dir_and_modes_are_checked():
    with pytest.raises(ValueError, match="need run_dir"):
        train(TINY.replace(checkpoint=True), "single")
    with pytest.raises(ValueError, match="mode must be one of single, dataparallel, ddp"):
        train(TINY, "fsdp")
    with pytest.raises(RuntimeError, match="not started by torchrun"):
        train(TINY, "ddp")


def test_preloaded_data_trains_exactly_like_the_loader():
    with torch_threads(1):
        streamed = train(TINY.replace(optimizer="sgd", lr=0.05), "single", log=None)
        preloaded = train(TINY.replace(optimizer="sgd", lr=0.05, preload=True), "single", log=None)
    assert preloaded["final_loss"] == pytest.approx(streamed["final_loss"], rel=1e-6)
    assert preloaded["history"] == streamed["history"]


def test_a_checkpoint_is_flushed_before_and_after_its_rename(tmp_path, monkeypatch):
    """fsync the file, then rename, then fsync the folder: a power cut leaves the old or the new
    checkpoint, whole."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    model = torch.nn.Linear(2, 2)
    path = save_checkpoint(
        tmp_path / "run" / "checkpoint.pt", model, torch.optim.SGD(model.parameters(), lr=0.1), 3, TrainConfig()
    )
    assert events == ["fsync file", "rename", "fsync folder"]
    assert torch.load(path, weights_only=True)["epoch"] == 3 and not list(path.parent.glob("*.tmp"))
