"""benchmarks/dashboard_vs_nvidia_smi.py without a GPU: a fake NVML, a fake nvidia-smi, a tiny CPU loop.

The GPU run itself happens on the GPU machine; this checks that the script's
parsing, pairing and verdicts are right, and that a disagreement is caught.
"""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

import pytest
from support.fake_nvml import FakeNvml

from course_utils.telemetry import NvmlBackend

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("dashboard_vs_nvidia_smi",
                                                  ROOT / "benchmarks" / "dashboard_vs_nvidia_smi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_smi(tmp_path, memory_gpu0="1000"):
    """An executable that answers --query-gpu like nvidia-smi, with FakeNvml's numbers."""
    path = tmp_path / "nvidia-smi"
    path.write_text("#!/bin/sh\n"
                    f"echo '0, {memory_gpu0}, 143771, 50, 250.00, 40, 1980'\n"
                    "echo '1, 1100, 143771, 51, [N/A], 41, 1980'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_parses_nvidia_smi_csv_with_missing_values(script, tmp_path):
    t, rows = script.query_smi(fake_smi(tmp_path))
    assert t > 0 and set(rows) == {0, 1}
    assert rows[0]["memory.used"] == 1000.0 and rows[0]["power.draw"] == 250.0
    assert rows[1]["power.draw"] is None  # "[N/A]" is no reading, not 0


def test_verdicts(script):
    smi = {"memory.used": 10_000.0, "utilization.gpu": 80.0, "power.draw": 500.0, "temperature.gpu": 60.0,
           "clocks.sm": 1980.0}
    model = {"memory_used_mib": 10_050.0, "utilization_pct": 95.0, "power_w": 520.0, "temperature_c": 61.0,
             "sm_clock_mhz": 1980.0, "util_last_1s": [79.0, 95.0], "power_last_1s": [495.0, 520.0]}
    out = script.compare(smi, model)
    assert out["memory_ok"] and out["memory_diff_pct"] == 0.5
    assert out["util_ok"] and out["util_diff"] == 15.0  # inside the counter's 1 s range
    assert out["power_ok"]
    model["memory_used_mib"] = 10_200.0
    model["util_last_1s"] = [90.0, 95.0]
    model["power_last_1s"] = [600.0, 610.0]
    out = script.compare(smi, model)
    assert not out["memory_ok"] and not out["util_ok"] and not out["power_ok"]


def test_end_to_end_with_fake_nvml_agrees(script, tmp_path):
    backend = NvmlBackend(nvml=FakeNvml(n_gpus=2))
    result = script.run(3, 0.05, backend=backend, smi=fake_smi(tmp_path), device="cpu", width=32, settle_s=0.3)
    assert len(result["pairs"]) == 6  # 3 readings x 2 GPUs
    assert result["checks"]["memory"]["all_agree"] and result["checks"]["utilization"]["all_agree"]
    assert result["checks"]["power"]["readings"] == 3  # GPU 1 reported no power
    assert result["max_abs"]["memory_diff_mib"] == 0.0
    assert result["training_steps"] > 0
    assert "reading" in script.format_table(result) or "agreement" in script.format_table(result)


def test_end_to_end_catches_a_disagreement(script, tmp_path):
    backend = NvmlBackend(nvml=FakeNvml(n_gpus=2))
    result = script.run(2, 0.05, backend=backend, smi=fake_smi(tmp_path, memory_gpu0="1200"), device="cpu",
                        width=32, settle_s=0.3)
    assert not result["checks"]["memory"]["all_agree"]
    assert result["max_abs"]["memory_diff_pct"] == pytest.approx(16.667, abs=0.01)
