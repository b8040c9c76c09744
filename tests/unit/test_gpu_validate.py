"""The GPU validation script's own logic, on a machine without a GPU."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_validate  # noqa: E402


def test_lists_every_step():
    proc = subprocess.run(
        [sys.executable, "scripts/gpu_validate.py", "--list"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    names = proc.stdout.split("\n")
    for expected in ("doctor", "gpu tests", "nbval notebooks/00_welcome.ipynb", "multi-GPU bench", "grading self-test"):
        assert expected in names


def test_refuses_to_pretend_without_a_gpu(monkeypatch, tmp_path):
    monkeypatch.setattr(
        gpu_validate, "gpu_inventory", lambda: {"gpus": 0, "gpu_model": None, "driver": None, "date": "2026-11-28"}
    )
    assert gpu_validate.main(["--log-dir", str(tmp_path)]) == 1


def test_unknown_step_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(
        gpu_validate, "gpu_inventory", lambda: {"gpus": 2, "gpu_model": "X", "driver": "1", "date": "d"}
    )
    with pytest.raises(SystemExit):
        gpu_validate.main(["--only", "everything"])


def test_multi_gpu_step_uses_every_gpu_count_present():
    steps = {s.name: s for s in gpu_validate.steps_for(4, "4gpu")}
    assert "1,2,4" in steps["multi-GPU bench"].argv
    steps8 = {s.name: s for s in gpu_validate.steps_for(8, "8gpu")}
    assert "1,2,4,8" in steps8["multi-GPU bench"].argv


def test_missing_script_is_reported_as_not_run(tmp_path):
    step = gpu_validate.Step("x", ["true"], 10, needs="benchmarks/does_not_exist.py")
    outcome = gpu_validate.run_step(step, 1, tmp_path)
    assert outcome.status == "not run" and "does not exist" in outcome.figures


def test_a_failing_step_is_a_fail_with_its_log(tmp_path):
    step = gpu_validate.Step("boom", [sys.executable, "-c", "print('before'); raise SystemExit(3)"], 30)
    outcome = gpu_validate.run_step(step, 1, tmp_path)
    assert outcome.status == "fail" and "before" in Path(outcome.log).read_text()


def test_report_is_rebuilt_from_results(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(gpu_validate, "RESULTS", results)
    monkeypatch.setattr(gpu_validate, "REPORT", tmp_path / "report.md")
    run = {
        "machine": {
            "gpus": 2,
            "gpu_model": "NVIDIA H200",
            "driver": "580.159.04",
            "torch": "2.11.0",
            "python": "3.12.3",
            "date": "2026-11-28",
        },
        "steps": [{"name": "gpu tests", "status": "pass", "seconds": 12.0, "figures": "5 passed", "log": ""}],
    }
    (results / "gpu_validation_2gpu.json").write_text(json.dumps(run))
    gpu_validate.write_report()
    text = (tmp_path / "report.md").read_text()
    assert "## 2 x NVIDIA H200" in text and "| gpu tests | pass | 12 s | 5 passed |" in text


def test_each_notebook_is_its_own_step_and_a_prefix_selects_them_all():
    names = [s.name for s in gpu_validate.steps_for(2, "2gpu")]
    nbval = [n for n in names if gpu_validate.matches(n, {"nbval"})]
    assert "nbval notebooks/00_welcome.ipynb" in nbval
    assert any(n.startswith("nbval solutions/") for n in nbval)
    assert not gpu_validate.matches("telemetry bench", {"tele"})  # a prefix must end a word of the name
    assert gpu_validate.matches("gpu tests", {"gpu tests"})


def test_a_step_named_after_a_path_logs_to_a_flat_file(tmp_path):
    """`nbval notebooks/00_welcome.ipynb` once became a log path inside a missing folder
    (FileNotFoundError on every notebook step, on 2 H200s)."""
    assert gpu_validate.log_name("nbval notebooks/00_welcome.ipynb") == "nbval_notebooks_00_welcome.ipynb.log"
    step = gpu_validate.Step("nbval notebooks/x (y).ipynb", [sys.executable, "-c", "print('ran')"], 30)
    outcome = gpu_validate.run_step(step, 1, tmp_path)
    assert outcome.status == "pass" and Path(outcome.log).parent == tmp_path
    assert "ran" in Path(outcome.log).read_text()


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """main() on a pretend 1-GPU machine, with results, report and logs in tmp_path."""
    results = tmp_path / "results"
    monkeypatch.setattr(gpu_validate, "RESULTS", results)
    monkeypatch.setattr(gpu_validate, "REPORT", tmp_path / "report.md")
    monkeypatch.setattr(
        gpu_validate,
        "gpu_inventory",
        lambda: {"gpus": 1, "gpu_model": "X", "driver": "1", "date": "d", "torch": "t", "python": "p"},
    )
    return tmp_path


def sleeper(name, seconds, **kw):
    return gpu_validate.Step(name, [sys.executable, "-c", f"import time; time.sleep({seconds})"], 60, **kw)


def test_shared_steps_run_side_by_side_and_results_are_exported(sandbox, monkeypatch):
    monkeypatch.setattr(
        gpu_validate,
        "steps_for",
        lambda n, tag: [sleeper("bench", 0.1), sleeper("nb a", 3, shared=True), sleeper("nb b", 3, shared=True)],
    )
    start = time.monotonic()
    assert gpu_validate.main(["--log-dir", str(sandbox / "out"), "--jobs", "2"]) == 0
    assert time.monotonic() - start < 5.5  # the two 3 s notebooks overlapped (one after the other: over 6 s)
    saved = json.loads((sandbox / "results" / "gpu_validation_1gpu.json").read_text())
    assert [s["status"] for s in saved["steps"]] == ["pass", "pass", "pass"]
    # what comes back from the device machine: $OUT/docs/...
    assert (sandbox / "out" / "docs" / "results" / "gpu_validation_1gpu.json").exists()
    assert (sandbox / "out" / "docs" / "report.md").read_text().count("| pass |") == 3


def test_the_time_budget_ends_the_call_in_time_and_says_what_to_run_next(sandbox, monkeypatch):
    monkeypatch.setattr(
        gpu_validate,
        "steps_for",
        lambda n, tag: [
            sleeper("quick", 0.1, expect_s=1),
            sleeper("slow", 30, expect_s=1),
            sleeper("later", 0.1, expect_s=60),
        ],
    )
    start = time.monotonic()
    assert gpu_validate.main(["--log-dir", str(sandbox / "out"), "--budget-s", "3"]) == 0  # not run is no failure
    assert time.monotonic() - start < 10
    steps = {s["name"]: s for s in json.loads((sandbox / "results" / "gpu_validation_1gpu.json").read_text())["steps"]}
    assert steps["quick"]["status"] == "pass"
    assert steps["slow"]["status"] == "not run" and "--only 'slow'" in steps["slow"]["figures"]  # cut by the budget
    assert steps["later"]["status"] == "not run" and "time budget" in steps["later"]["figures"]  # never started


def test_report_only_rebuilds_the_report_without_a_gpu(sandbox):
    (sandbox / "results").mkdir()
    run = {
        "machine": {"gpus": 1, "gpu_model": "NVIDIA H200", "driver": "1", "torch": "t", "python": "p", "date": "d"},
        "steps": [{"name": "doctor", "status": "pass", "seconds": 3.0, "figures": ""}],
    }
    (sandbox / "results" / "gpu_validation_1gpu.json").write_text(json.dumps(run))
    assert gpu_validate.main(["--report-only"]) == 0
    assert "## 1 x NVIDIA H200" in (sandbox / "report.md").read_text()
