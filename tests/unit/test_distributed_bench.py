"""The multi-GPU benchmark and the DataParallel probe: planning, merging, budget, verdict, and
a CPU smoke run of each harness (the real measurements need GPUs; see docs/multi-gpu.md)."""

import importlib.util
import json
from pathlib import Path

import pytest

from course_utils.bench import multi_gpu as mg

ROOT = Path(__file__).resolve().parents[2]


def load_probe():
    spec = importlib.util.spec_from_file_location("dataparallel_probe", ROOT / "benchmarks" / "dataparallel_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "available, counts", [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (4, [1, 2, 4]), (8, [1, 2, 4, 8]), (6, [1, 2, 4, 6])]
)
def test_default_gpu_counts_cover_every_gpu_present(available, counts):
    assert mg.gpu_counts(None, available) == counts


def test_asking_for_more_gpus_than_present_says_what_would_work():
    assert mg.gpu_counts("4,1,2,2", 4) == [1, 2, 4]
    with pytest.raises(ValueError, match=r"asks for 4 GPUs but 2 are visible.*--gpus 1,2"):
        mg.gpu_counts("1,2,4", 2)
    with pytest.raises(ValueError, match="like 1,2,4"):
        mg.gpu_counts("two", 2)


def args(*extra):
    return mg.build_parser().parse_args(list(extra))


def test_plan_runs_the_baseline_then_ddp_then_dataparallel_off_then_on():
    runs = mg.plan(args("--compile", "default"), [1, 2, 4])
    kinds = [(r.model, r.mode, r.gpus, r.cudnn_benchmark) for r in runs]
    assert kinds[:2] == [("resnet50", "single", 1, True), ("resnet18", "single", 1, True)]
    assert kinds[2:6] == [
        ("resnet50", "ddp", 2, True),
        ("resnet50", "ddp", 4, True),
        ("resnet18", "ddp", 2, True),
        ("resnet18", "ddp", 4, True),
    ]
    dp = runs[6:]
    assert [r.cudnn_benchmark for r in dp] == [False] * 4 + [True] * 4
    assert all(r.compile == "none" for r in dp) and all(r.compile == "default" for r in runs[:6])
    assert [r.steps for r in dp] == [20] * 4 + [3] * 4 and dp[-1].warmup == 1
    assert {r.batch for r in runs if r.model == "resnet50"} == {256}
    assert {r.batch for r in runs if r.model == "resnet18"} == {512}
    # a DDP-only request still measures the single-GPU baseline its efficiency needs
    only = mg.plan(args("--modes", "ddp", "--models", "resnet50", "--batch", "384"), [2])
    assert [(r.mode, r.gpus, r.batch) for r in only] == [("single", 1, 384), ("ddp", 2, 384)]


def row(**kw):
    base = {
        "model": "resnet50",
        "mode": "single",
        "gpus": 1,
        "batch": 256,
        "dtype": "bf16",
        "compile": "none",
        "cudnn_benchmark": True,
        "device": "cuda",
        "img_per_s": 4000.0,
    }
    return {**base, **kw}


def test_new_rows_replace_their_own_kind_and_keep_every_other():
    old = [row(), row(mode="ddp", gpus=4, img_per_s=15000.0), row(mode="ddp", gpus=2, img_per_s=7000.0)]
    new = [row(img_per_s=4100.0), row(mode="ddp", gpus=2, img_per_s=7900.0)]
    merged = mg.merge_rows(old, new)
    assert [(r["mode"], r["gpus"], r["img_per_s"]) for r in merged] == [
        ("ddp", 4, 15000.0),
        ("single", 1, 4100.0),
        ("ddp", 2, 7900.0),
    ]
    assert len(mg.merge_rows(merged, [row(batch=384)])) == 4  # another batch is another configuration


def test_scaling_efficiency_is_against_the_matching_single_gpu_row():
    rows = [row(), row(compile="default", img_per_s=6000.0)]
    ddp = mg.add_scaling(row(mode="ddp", gpus=2, img_per_s=7600.0), rows)
    assert ddp["scaling_efficiency"] == 0.95 and ddp["baseline_img_per_s"] == 4000.0
    compiled = mg.add_scaling(row(mode="ddp", gpus=2, compile="default", img_per_s=10800.0), rows)
    assert compiled["scaling_efficiency"] == 0.9
    dp = mg.add_scaling(row(mode="dataparallel", gpus=2, cudnn_benchmark=False, img_per_s=3480.0), rows)
    assert dp["scaling_efficiency"] == 0.435
    assert mg.add_scaling(row(), [])["scaling_efficiency"] == 1.0
    assert mg.add_scaling(row(mode="ddp", gpus=2, batch=128), rows)["scaling_efficiency"] is None


def test_budget_skips_are_listed_and_earlier_rows_survive(tmp_path, monkeypatch, capsys):
    out = tmp_path / "multi_gpu.json"
    out.write_text(json.dumps({"runs": [row(mode="ddp", gpus=4, device="cpu", img_per_s=1.0)]}))
    monkeypatch.setattr(mg, "run_in_process", lambda run: {"img_per_s": 100.0, "peak_mem_gib": None})
    monkeypatch.setattr(mg, "run_ddp", lambda run, timeout_s: pytest.fail("over budget: must not run"))
    monkeypatch.setattr(mg, "estimate_s", lambda run, seen: 1e6 if run.mode == "ddp" else 0.0)
    assert mg.main(["--device", "cpu", "--models", "resnet18", "--gpus", "1,2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skip resnet18 ddp x2" in printed and "skipped: ~1000000 s needed" in printed
    rows = json.loads(out.read_text())["runs"]
    assert [(r["model"], r["mode"], r["gpus"]) for r in rows] == [("resnet50", "ddp", 4), ("resnet18", "single", 1)]
    assert rows[1]["scaling_efficiency"] == 1.0 and rows[1]["dtype"] == "fp32"


def test_a_broken_results_file_is_left_alone(tmp_path):
    out = tmp_path / "multi_gpu.json"
    out.write_text("{not json")
    with pytest.raises(SystemExit, match="move it aside"):
        mg.main(["--device", "cpu", "--models", "resnet18", "--gpus", "1", "--out", str(out)])
    assert out.read_text() == "{not json"


def test_without_a_gpu_the_real_benchmark_refuses_clearly(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would run for real")
    assert mg.main(["--out", "/nonexistent/x.json"]) == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_smoke_run_of_the_whole_harness_including_a_torchrun_worker(tmp_path):
    out = tmp_path / "mg.json"
    assert (
        mg.main(
            [
                "--device",
                "cpu",
                "--models",
                "resnet18",
                "--gpus",
                "1,2",
                "--batch-r18",
                "2",
                "--steps",
                "1",
                "--warmup",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads(out.read_text())["runs"]
    assert [(r["mode"], r["gpus"]) for r in rows] == [("single", 1), ("ddp", 2)]
    assert rows[1]["world_size"] == 2 and rows[1]["img_per_s"] > 0 and rows[1]["scaling_efficiency"] > 0
    for key in (
        "model",
        "mode",
        "gpus",
        "img_per_s",
        "scaling_efficiency",
        "peak_mem_gib",
        "date",
        "batch",
        "dtype",
        "compile",
        "steps",
        "cudnn_benchmark",
    ):
        assert key in rows[1]


def test_probe_verdict_follows_the_numbers():
    probe = load_probe()

    def a(new_on):
        return [
            {"thread": "main", "cudnn_benchmark": True, "median_step_ms": 55.0},
            {"thread": "long-lived", "cudnn_benchmark": True, "median_step_ms": 56.0},
            {"thread": "new-thread", "cudnn_benchmark": True, "median_step_ms": new_on},
            {"thread": "long-lived", "cudnn_benchmark": False, "median_step_ms": 60.0},
            {"thread": "new-thread", "cudnn_benchmark": False, "median_step_ms": 70.0},
        ]

    dp = [
        {
            "variant": "nn.DataParallel",
            "cudnn_benchmark": True,
            "gpus": 2,
            "replica_autocast_dtype": ["float16"],
            "phases_median_ms": {"parallel_apply": 1400.0, "replicate": 15.0, "scatter": 0.6, "gather": 0.5},
        },
        {
            "variant": "nn.DataParallel",
            "cudnn_benchmark": False,
            "gpus": 2,
            "replica_autocast_dtype": ["float16"],
            "phases_median_ms": {"parallel_apply": 103.0, "replicate": 15.0, "scatter": 0.6, "gather": 0.5},
        },
    ]
    yes = probe.verdict(
        a(1500.0),
        {
            "rows": [
                {"thread": "main", "cudnn_benchmark": True, "median_step_ms": 55.0},
                {"thread": "new-thread", "cudnn_benchmark": True, "median_step_ms": 57.0},
            ]
        },
        dp,
    )
    assert yes["result"] == "supported"
    text = " ".join(yes["evidence"])
    assert "27.0x" not in text and "26.8x" in text and "1400 ms with cudnn.benchmark on" in text
    assert "replicas computed in float16" in text and "(1.0x)" in text
    no = probe.verdict(a(58.0), {"skipped": "--no-v7-control"}, [])
    assert no["result"] == "not supported" and "v7 control not run" in " ".join(no["evidence"])
    assert probe.verdict(a(1500.0), {}, [], on_gpu=False)["result"].startswith("not tested")


@pytest.mark.slow
def test_probe_cpu_smoke_run_writes_its_json(tmp_path):
    probe = load_probe()
    out = tmp_path / "probe.json"
    assert (
        probe.main(
            [
                "--device",
                "cpu",
                "--model",
                "resnet18",
                "--batch",
                "2",
                "--steps",
                "1",
                "--slow-steps",
                "1",
                "--warmup",
                "1",
                "--no-v7-control",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert [(r["thread"], r["cudnn_benchmark"]) for r in data["single_gpu"]] == probe.PART_A
    assert data["dataparallel"] == [] and data["verdict"]["result"].startswith("not tested")
