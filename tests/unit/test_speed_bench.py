"""`bench speed` (issue 18): order, budget, rows labelled by config, and a real CPU run of the
whole command (reference script, torchrun DDP workers with gloo, the profile)."""

import json

import pytest

import course_utils.bench.speed as sp
from course_utils.bench import multi_gpu as mg


def test_plan_puts_the_decisive_measurements_first():
    items = sp.plan(2, "cuda", quick=False)
    first = [(k, r.model, r.mode, r.compile, r.scope, r.batch) for k, r in items[:6]]
    assert first == [
        ("run", "resnet50", "single", "reduce-overhead", "step", 512),
        ("reference", "resnet50", "single", "reduce-overhead", "step", 512),
        ("run", "resnet50", "single", "default", "step", 512),  # the baseline DDP is compared with
        ("run", "resnet50", "ddp", "default", "step", 512),
        ("run", "resnet18", "single", "none", "model", 8192),
        ("run", "resnet18", "ddp", "none", "model", 8192),
    ]
    assert items[3][1].profile and items[5][1].profile
    assert not items[3][1].split_graph, "compiled DDP as one graph: the trainer's default"
    assert [r.split_graph for _, r in items if r.mode == "ddp" and r.model == "resnet50"] == [False, True]
    one = sp.plan(1, "cuda", quick=False)
    assert all(r.mode == "single" for _, r in one), "no DDP with one GPU"
    assert any(r.compile == "none" for _, r in one) and any(r.batch == 256 for _, r in one)
    only = sp.plan(2, "cuda", quick=False, parts=("ddp", "r18"))
    assert [r.mode for _, r in only] == ["single", "ddp", "single", "ddp"]


def test_targets_are_judged_on_this_runs_rows():
    rows = [
        {"model": "resnet50", "mode": "single", "img_per_s": 7100.0},
        {"model": "resnet50", "mode": "ddp", "img_per_s": 13000.0, "scaling_efficiency": 0.94},
        {"model": "resnet18", "mode": "ddp", "img_per_s": 1.0, "scaling_efficiency": None},
    ]
    lines = sp.target_lines(rows)
    assert lines[0].endswith("met (7,100)")
    assert "MISSED (best 94.0%)" in lines[1]
    assert lines[2].endswith("not measured")


def test_over_budget_runs_are_skipped_and_listed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "mg.json"
    monkeypatch.setattr(mg, "run_in_process", lambda run: {"img_per_s": 100.0, "peak_mem_gib": None})
    monkeypatch.setattr(mg, "run_ddp", lambda run, timeout_s: pytest.fail("over budget: must not run"))
    monkeypatch.setattr(
        sp,
        "run_reference",
        lambda run, timeout_s: {
            "img_per_s": 50.0,
            "model": run.model,
            "batch": run.batch,
            "compile": "none",
            "device": "cpu",
        },
    )
    monkeypatch.setattr(sp, "estimate_s", lambda kind, run, seen: 1e6 if run.mode == "ddp" else 0.0)
    assert sp.main(["--device", "cpu", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skip resnet18 ddp x2" in printed and "course / reference: 2.000" in printed
    rows = json.loads(out.read_text())["runs"]
    assert [(r["mode"], r["config"]) for r in rows] == [
        ("single", "compiled default (step)"),
        ("single", "eager"),
        ("reference", "plain PyTorch (benchmarks/reference_resnet.py)"),
    ]


def test_bad_arguments_are_refused_clearly(capsys):
    assert sp.main(["--device", "cpu", "--budget-s", "0"]) == 2
    assert "--budget-s must be positive" in capsys.readouterr().err
    assert sp.main(["--device", "cpu", "--gpus", "5"]) == 2
    assert sp.main(["--device", "cpu", "--parts", "best,fast"]) == 2
    assert "unknown --parts fast" in capsys.readouterr().err


@pytest.mark.slow
def test_the_whole_command_runs_on_a_cpu(tmp_path):
    out = tmp_path / "mg.json"
    assert sp.main(["--device", "cpu", "--quick", "--out", str(out), "--budget-s", "600"]) == 0
    rows = {(r["mode"], r.get("config")): r for r in json.loads(out.read_text())["runs"]}
    assert rows[("single", "compiled default (step)")]["img_per_s"] > 0
    assert rows[("single", "eager")]["img_per_s"] > 0
    ref = rows[("reference", "plain PyTorch (benchmarks/reference_resnet.py)")]
    assert ref["img_per_s"] > 0 and ref["last_loss"] > 0
    ddp = rows[("ddp", "compiled default (step)")]
    assert ddp["world_size"] == 2 and ddp["scaling_efficiency"] > 0
    assert ddp["ddp_options"].endswith("optimize_ddp=False"), "one graph, through the torchrun worker"
    assert ddp["profile"]["steps_profiled"] >= 1 and ddp["profile"]["comm_ms_per_step"] > 0
