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
    spec = importlib.util.spec_from_file_location(
        "dashboard_vs_nvidia_smi", ROOT / "benchmarks" / "dashboard_vs_nvidia_smi.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_smi(tmp_path, memory_gpu0="1000"):
    """An executable that answers --query-gpu like nvidia-smi, with FakeNvml's numbers."""
    path = tmp_path / "nvidia-smi"
    path.write_text(
        "#!/bin/sh\n"
        f"echo '0, {memory_gpu0}, 143771, 50, 250.00, 40, 1980'\n"
        "echo '1, 1100, 143771, 51, [N/A], 41, 1980'\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_parses_nvidia_smi_csv_with_missing_values(script, tmp_path):
    t, rows = script.query_smi(fake_smi(tmp_path))
    assert t > 0 and set(rows) == {0, 1}
    assert rows[0]["memory.used"] == 1000.0 and rows[0]["power.draw"] == 250.0
    assert rows[1]["power.draw"] is None  # "[N/A]" is no reading, not 0


def test_verdicts(script):
    smi = {
        "memory.used": 10_000.0,
        "utilization.gpu": 80.0,
        "power.draw": 500.0,
        "temperature.gpu": 60.0,
        "clocks.sm": 1980.0,
    }
    model = {
        "memory_used_mib": 10_050.0,
        "utilization_pct": 95.0,
        "power_w": 520.0,
        "temperature_c": 61.0,
        "sm_clock_mhz": 1980.0,
    }
    out = script.compare(smi, model, [79.0, 95.0], [495.0, 520.0])
    assert out["memory_ok"] and out["memory_diff_pct"] == 0.5
    assert out["util_ok"] and out["util_diff"] == 15.0  # inside the window's spread
    assert out["power_ok"]
    model["memory_used_mib"] = 10_200.0
    out = script.compare(smi, model, [90.0, 95.0], [600.0, 610.0])
    assert not out["memory_ok"] and not out["util_ok"] and not out["power_ok"]


# ---- the judge on synthetic bursty traces -------------------------------------------------------------
class Sample:
    def __init__(self, timestamp, utilization_pct, power_w):
        self.timestamp, self.utilization_pct, self.power_w = timestamp, utilization_pct, power_w


def nvml_counters(t, steady=False):
    """What NVML reports at time t on the benchmark's load: 2 s of work, 0.7 s of rest (or work
    only, ``steady``). Power is a 1 s trailing average of the draw (so it ramps), utilisation a
    1/6 s one (so it steps)."""

    def working(s):
        return steady or s % 2.7 < 2.0

    def draw(s):
        return 650.0 if working(s) else 150.0

    def busy(s):
        return 100.0 if working(s) else 0.0

    power = sum(draw(t - k / 100) for k in range(100)) / 100
    util = sum(busy(t - k / 600) for k in range(100)) / 100
    return round(util), round(power, 1)


def bursty_readings(n=20, gpus=2, seed=3, smi_scale=1.0, util_shift=0.0, steady=False):
    """n readings x gpus: the model's samples every 0.1 s (with jitter) and nvidia-smi's value at t_mid."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        for gpu in range(gpus):
            t_mid = 5.0 + 2.33 * i + 0.41 * gpu + rng.uniform(0, 0.1)
            first = t_mid - 2.0 + rng.uniform(0, 0.1)
            samples = []
            for k in range(31):
                t = first + 0.1 * k + rng.uniform(-0.01, 0.01)
                samples.append(Sample(t, *nvml_counters(t, steady)))
            util, power = nvml_counters(t_mid, steady)
            out.append((t_mid, samples, min(100.0, max(0.0, util + util_shift)), power * smi_scale))
    return out


def verdicts(script, readings):
    util_ok = power_ok = 0
    for t_mid, samples, util, power in readings:
        util_ok += script.judge(util, script.window(samples, t_mid, "utilization_pct"), script.UTIL_MARGIN_PCT_POINTS)[
            "ok"
        ]
        power_ok += script.judge(power, script.window(samples, t_mid, "power_w"), 0.0, script.POWER_MARGIN_PCT)["ok"]
    return util_ok, power_ok


def backward_verdicts(readings):
    """The old judge: the samples of the second before the model reading taken just before the read."""
    util_ok = power_ok = 0
    for t_mid, samples, util, power in readings:
        before = [s for s in samples if s.timestamp <= t_mid - 0.02]
        last = before[-1].timestamp
        recent = [s for s in before if s.timestamp >= last - 1.0]
        u = [s.utilization_pct for s in recent]
        p = [s.power_w for s in recent]
        util_ok += max(0.0, min(u) - util, util - max(u)) <= 1.0
        power_ok += 100 * max(0.0, min(p) - power, power - max(p)) / power <= 2.0
    return util_ok, power_ok


def test_a_bursty_load_agrees_when_judged_on_the_centred_window(script):
    readings = bursty_readings()
    assert len(readings) == 40
    old_util, old_power = backward_verdicts(readings)
    assert old_power < 40 or old_util < 40, "the trace must be bursty enough to fool the old judge"
    assert verdicts(script, readings) == (40, 40)


def test_a_real_disagreement_still_fails(script):
    wrong_scale = bursty_readings(smi_scale=1.3)  # e.g. another GPU's power, or a unit slip
    assert verdicts(script, wrong_scale)[1] < 20
    # On a bursty load a +/- 1 s window often spans 0-100% utilisation, so a shifted utilisation is
    # only caught where the load is steady (memory, checked exactly, catches a wrong GPU anyway).
    idle_gpu = bursty_readings(util_shift=-60.0, steady=True)
    assert verdicts(script, idle_gpu) == (0, 40)


def test_judge_reports_the_spread_and_the_distance_outside(script):
    assert script.judge(105.0, [90.0, 100.0, 95.0], 2.0) == {"lo": 90.0, "hi": 100.0, "outside": 5.0, "ok": False}
    assert script.judge(101.5, [90.0, 100.0], 2.0)["ok"]
    assert script.judge(515.0, [400.0, 500.0], 0.0, 3.0)["ok"]  # 15 W outside, 3% of 515 W allowed


def test_end_to_end_with_fake_nvml_agrees(script, tmp_path):
    backend = NvmlBackend(nvml=FakeNvml(n_gpus=2))
    result = script.run(
        3, 0.05, backend=backend, smi=fake_smi(tmp_path), device="cpu", width=32, settle_s=0.3, window_half_s=0.3
    )
    assert len(result["pairs"]) == 6  # 3 readings x 2 GPUs
    assert result["checks"]["memory"]["all_agree"] and result["checks"]["utilization"]["all_agree"]
    assert result["checks"]["power"]["readings"] == 3  # GPU 1 reported no power
    assert result["max_abs"]["memory_diff_mib"] == 0.0
    assert result["training_steps"] > 0
    assert "reading" in script.format_table(result) or "agreement" in script.format_table(result)


def test_end_to_end_catches_a_disagreement(script, tmp_path):
    backend = NvmlBackend(nvml=FakeNvml(n_gpus=2))
    result = script.run(
        2, 0.05, backend=backend, smi=fake_smi(tmp_path, memory_gpu0="1200"), device="cpu", width=32, settle_s=0.3
    )
    assert not result["checks"]["memory"]["all_agree"]
    assert result["max_abs"]["memory_diff_pct"] == pytest.approx(16.667, abs=0.01)
