"""benchmarks/memory_bench.py on the CPU: what it refuses, how it writes, the table it prints."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.units import GIB, MIB

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "memory_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("memory_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_results(name, args):
    """Part results of the shape the GPU children print (inputs for the table, not measurements)."""
    if name == "cap":
        return {
            "cap_bytes": 6 * GIB,
            "fraction": 0.0427,
            "total_bytes": 140 * GIB,
            "under_cap_ok": True,
            "over_cap_raised": True,
            "margin_bytes": 64 * MIB,
            "batch": 32768,
            "hidden": 65536,
            "full_batch_fits": False,
            "chunk_used": 8192,
            "ooms_during_recovery": 2,
            "recovered_s": 0.5,
            "same_chunk_from_start_s": 0.3,
            "reference_chunk": 512,
            "equal_to_reference": True,
            "max_abs_diff": 0.0,
        }
    if name.startswith("frag"):
        run = {
            "peak_allocated": GIB,
            "peak_reserved": 2 * GIB,
            "peak_reserved_over_peak_allocated": 2.0,
            "max_reserved_minus_allocated": GIB,
            "num_device_alloc": 40,
            "ooms": 1,
            "num_alloc_retries": 3,
        }
        return {"uncapped": run, "capped": run}
    if name == "cache":
        r = {
            "median_step_ms": 2.0,
            "reserved_after_step_min": GIB,
            "reserved_after_step_max": GIB,
            "cudamalloc_per_step": 0.0,
        }
        return {
            "keep_cache": r,
            "empty_cache_each_step": {**r, "median_step_ms": 3.0, "cudamalloc_per_step": 5.0},
            "slowdown": 1.5,
        }
    raise AssertionError(name)


def test_without_a_gpu_nothing_is_written(bench, tmp_path, capsys):
    out = tmp_path / "memory.json"
    assert bench.main(["--out", str(out)], cuda_available=False) == 2
    assert not out.exists()
    assert "nothing measured" in capsys.readouterr().err


def test_writes_every_part_and_prints_a_table(bench, tmp_path, capsys):
    out = tmp_path / "results" / "memory.json"
    code = bench.main(
        ["--out", str(out), "--quick"],
        spawn=fake_results,
        cuda_available=True,
        info=lambda: {"gpu": "Fake GPU", "torch": "x"},
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["measured"] and data["quick"] and data["gpu"] == "Fake GPU"
    assert set(bench.PARTS) <= set(data)
    table = capsys.readouterr().out
    assert "chunk 8192" in table and "expandable_segments:True" in table and "1.50x" in table


def test_a_failed_part_is_recorded_and_fails_the_run(bench, tmp_path):
    def spawn(name, args):
        return {"error": "part cache failed (exit 1): boom"} if name == "cache" else fake_results(name, args)

    out = tmp_path / "memory.json"
    assert bench.main(["--out", str(out)], spawn=spawn, cuda_available=True, info=dict) == 1
    data = json.loads(out.read_text())
    assert "boom" in data["cache"]["error"] and "chunk_used" in data["cap"]
    from course_utils.memory.results import format_results

    assert "boom" in format_results(data) and "boom" in format_results(data, "cache")


def test_child_env_sets_the_allocator_config_only_where_asked(bench):
    base = {"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:64", "PATH": "/bin"}
    env = bench.child_env("frag-expandable", base)
    assert env["PYTORCH_ALLOC_CONF"] == env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    env = bench.child_env("frag-default", base)
    assert "PYTORCH_ALLOC_CONF" not in env and "PYTORCH_CUDA_ALLOC_CONF" not in env  # a clean default
    assert str(ROOT) in env["PYTHONPATH"].split(":")


@pytest.mark.parametrize("cap", ["0.1", "100"])
def test_caps_outside_the_safe_range_are_refused(bench, cap):
    with pytest.raises(SystemExit):
        bench.main(["--cap-gib", cap], cuda_available=True, spawn=fake_results, info=dict)


def test_a_part_on_a_machine_without_cuda_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--part", "cap"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no CUDA GPU" in proc.stderr


def test_spawn_reports_a_crashing_child(bench, monkeypatch):
    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="Traceback ...\nRuntimeError: x")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    args = argparse.Namespace(cap_gib=6.0, frag_cap_gib=3.0, quick=True)
    result = bench.spawn_part("cap", args)
    assert "RuntimeError: x" in result["error"]


def test_results_for_notebooks(tmp_path):
    from course_utils.memory.results import NOT_MEASURED, format_results, load_results

    assert load_results(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert load_results(tmp_path / "bad.json") is None
    (tmp_path / "unmeasured.json").write_text(json.dumps({"measured": False}))
    assert load_results(tmp_path / "unmeasured.json") is None
    assert format_results(None) == NOT_MEASURED and "not measured yet" in NOT_MEASURED
    data = {
        "measured": True,
        "gpu": "Fake",
        "torch": "x",
        **{p: fake_results(p, None) for p in ("cap", "frag-default", "frag-expandable", "cache")},
    }
    (tmp_path / "memory.json").write_text(json.dumps(data))
    loaded = load_results(tmp_path / "memory.json")
    assert "chunk 8192" in format_results(loaded, "cap") and "median step" not in format_results(loaded, "cap")
    assert "expandable_segments:True" in format_results(loaded, "frag")
    assert "1.50x" in format_results(loaded, "cache")
    with pytest.raises(ValueError, match="part"):
        format_results(loaded, "nope")
