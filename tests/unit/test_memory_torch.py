"""PyTorch settings and reports: allocator options (for real, in fresh processes), fraction, report, snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from course_utils.memory import (
    AllocatorConfigTooLate,
    allocator_config_status,
    memory_report,
    record_memory_history,
    set_allocator_config,
    set_memory_fraction,
    summarize_snapshot,
    torch_config,
)
from course_utils.memory.torch_config import ALIAS, ENV, format_config, parse_config

NO_GPU = not torch.cuda.is_available()


def test_parse_and_format_round_trip():
    text = "expandable_segments:True,max_split_size_mb:128"
    assert parse_config(text) == {"expandable_segments": "True", "max_split_size_mb": "128"}
    assert format_config(parse_config(text)) == text
    assert format_config({"expandable_segments": True}) == "expandable_segments:True"
    assert parse_config("") == {}
    bracketed = "roundup_power2_divisions:[256:1,512:2],expandable_segments:True"
    assert parse_config(bracketed) == {"roundup_power2_divisions": "[256:1,512:2]", "expandable_segments": "True"}


@pytest.mark.parametrize("bad", ["expandable_segments", "Expandable:True", "a:", ":1"])
def test_malformed_options_are_explained(bad):
    with pytest.raises(ValueError, match="key:value"):
        parse_config(bad)


def test_logic_with_a_fake_torch(monkeypatch):
    env: dict[str, str] = {ALIAS: "max_split_size_mb:64"}
    monkeypatch.setattr(torch_config, "_cuda_initialised", lambda t: False)
    assert set_allocator_config(expandable_segments=True, env=env) == "expandable_segments:True"
    assert env == {ENV: "expandable_segments:True", ALIAS: "expandable_segments:True"}

    monkeypatch.setattr(torch_config, "_cuda_initialised", lambda t: True)
    env = {}
    with pytest.raises(AllocatorConfigTooLate, match=r"(?s)already initialised.*Restart"):
        set_allocator_config("expandable_segments:True", env=env)
    assert env == {}  # nothing changed when refusing
    with pytest.raises(ValueError, match="at least one option"):
        set_allocator_config(env={})


def test_status_warns_when_the_two_names_differ():
    status = allocator_config_status(env={ENV: "expandable_segments:True", ALIAS: "max_split_size_mb:64"})
    assert "differ" in status["warning"]
    assert allocator_config_status(env={})[ENV] is None


_FRESH = r"""
import json, os, sys
import torch
from course_utils.memory import set_allocator_config, allocator_config_status, AllocatorConfigTooLate
out = {"status_before": allocator_config_status()["can_still_change"]}
try:
    set_allocator_config("bogus_key:1")
    out["bogus"] = None
except ValueError as exc:
    out["bogus"] = str(exc)
out["env_after_bogus"] = os.environ.get("PYTORCH_ALLOC_CONF")
out["set"] = set_allocator_config(expandable_segments=True)
getter = getattr(torch._C, "_accelerator_getAllocatorSettings", None)
out["torch_uses"] = getter() if getter else None
try:
    set_allocator_config(max_split_size_mb=128)
    out["late"] = None
except AllocatorConfigTooLate as exc:
    out["late"] = str(exc)
out["env_after_late"] = os.environ.get("PYTORCH_ALLOC_CONF")
print("JSON" + json.dumps(out))
"""


def test_real_torch_reads_the_options_once():
    env = {k: v for k, v in os.environ.items() if k not in (ENV, ALIAS)}
    proc = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, timeout=120, env=env)
    line = [x for x in proc.stdout.splitlines() if x.startswith("JSON")]
    assert line, proc.stderr[-3000:]
    out = json.loads(line[0][4:])
    assert out["status_before"] is True
    assert out["set"] == "expandable_segments:True"
    if out["torch_uses"] is None:
        pytest.skip("this PyTorch has no _accelerator_getAllocatorSettings (< 2.9): only CUDA init is detected")
    assert "bogus_key" in out["bogus"] and out["env_after_bogus"] is None  # rejected and rolled back
    assert out["torch_uses"] == "expandable_segments:True"
    assert out["late"] and "already read" in out["late"]
    assert out["env_after_late"] == "expandable_segments:True"  # the refused value was not left behind


@pytest.mark.parametrize(
    "bad, err", [(0, ValueError), (1.5, ValueError), (-0.1, ValueError), ("0.5", TypeError), (True, TypeError)]
)
def test_fraction_validation(bad, err):
    with pytest.raises(err, match="fraction"):
        set_memory_fraction(bad)


@pytest.mark.skipif(not NO_GPU, reason="checks the no-GPU wording")
def test_cpu_paths_say_what_they_would_do(tmp_path):
    result = set_memory_fraction(0.5)
    assert not result.applied and "OutOfMemoryError" in str(result)
    report = memory_report()
    assert not report.on_gpu and "nothing to report" in str(report)
    assert "nothing to report" in report._repr_html_()
    ran = []
    with record_memory_history(tmp_path / "snap.pickle") as snap:
        ran.append(1)
    assert ran and not snap.on_gpu and "not recorded" in str(snap)
    assert not (tmp_path / "snap.pickle").exists()


def test_summarize_snapshot_counts_what_the_allocator_did():
    mib = 1024**2
    snapshot = {
        "segments": [
            {
                "total_size": 20 * mib,
                "allocated_size": 12 * mib,
                "blocks": [{"size": 12 * mib, "state": "active_allocated"}, {"size": 8 * mib, "state": "inactive"}],
            },
            {"total_size": 2 * mib, "allocated_size": 0, "blocks": [{"size": 2 * mib, "state": "inactive"}]},
        ],
        "device_traces": [
            [
                {"action": "segment_alloc", "size": 20 * mib},
                {"action": "alloc", "size": 12 * mib},
                {"action": "alloc", "size": 4 * mib},
                {"action": "free_requested", "size": 4 * mib},
                {"action": "oom", "size": 64 * mib},
            ]
        ],
    }
    s = summarize_snapshot(snapshot)
    assert s["segments"] == 2 and s["reserved_bytes"] == 22 * mib and s["allocated_bytes"] == 12 * mib
    assert s["cached_bytes"] == 10 * mib
    assert s["block_bytes_by_state"] == {"active_allocated": 12 * mib, "inactive": 10 * mib}
    assert s["events"] == {"segment_alloc": 1, "alloc": 2, "free_requested": 1, "oom": 1}
    assert s["largest_alloc_bytes"] == 12 * mib and s["oom_request_bytes"] == [64 * mib]
    with pytest.raises(ValueError, match="not a PyTorch memory snapshot"):
        summarize_snapshot({"nope": 1})


@pytest.mark.parametrize(
    "in_use, refused",
    [
        ("expandable_segments:True", False),
        ("expandable_segments:true,max_split_size_mb:512", False),  # other keys listed too: fine
        ("", False),  # cannot tell: accepted
        ("max_split_size_mb:512", True),  # read earlier, without our option
        ("expandable_segments:False", True),
    ],
)
def test_what_pytorch_reports_decides_too_late(monkeypatch, in_use, refused):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(ALIAS, raising=False)
    monkeypatch.setattr(torch_config, "_cuda_initialised", lambda t: False)
    monkeypatch.setattr(torch_config, "_read_settings", lambda t: in_use)
    if refused:
        with pytest.raises(AllocatorConfigTooLate, match="already read"):
            set_allocator_config(expandable_segments=True)
        assert ENV not in os.environ and ALIAS not in os.environ  # put back as it was
    else:
        assert set_allocator_config(expandable_segments=True) == "expandable_segments:True"
        assert os.environ[ENV] == "expandable_segments:True"


def test_rejected_options_leave_the_environment_as_it_was(monkeypatch):
    monkeypatch.setenv(ALIAS, "max_split_size_mb:64")
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(torch_config, "_cuda_initialised", lambda t: False)

    def reject(t):
        raise ValueError("Unrecognized key 'bogus' in Accelerator allocator config.")

    monkeypatch.setattr(torch_config, "_read_settings", reject)
    with pytest.raises(ValueError, match="rejected"):
        set_allocator_config("bogus:1")
    assert os.environ[ALIAS] == "max_split_size_mb:64" and ENV not in os.environ
