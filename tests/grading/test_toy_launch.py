"""The training assignment's launcher: a failed run is reported with its cause, never re-run.

A rank that crashed at exit used to be re-run once (commit 8c32877). The crash was a real bug
in the teardown (docs/multi-gpu.md, "Ending a DDP job"), now fixed; a re-run would only hide the
next such bug from the learner and the grader.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "solutions" / "multi_gpu_training"))
import toy  # noqa: E402

pytestmark = pytest.mark.grading


def test_a_rank_killed_by_a_signal_fails_once_and_the_summary_shows_the_cause(tmp_path):
    runs = tmp_path / "runs"
    script = tmp_path / "crash.py"
    script.write_text(f"import os, pathlib\nwith open({str(runs)!r}, 'a') as f:\n    f.write('x')\n"
                      "print('terminate called without an active exception', flush=True)\nos.abort()\n")
    result = toy.launch(script, nproc=1, timeout=120)
    assert not result.ok and result.killed_by_signal
    assert runs.read_text() == "x", "the run must not be repeated"
    assert "terminate called" in result.summary() and "exitcode" in result.summary()


def test_an_ordinary_error_is_reported_with_its_message(tmp_path):
    script = tmp_path / "bug.py"
    script.write_text("raise ValueError('a bug in the training script')\n")
    result = toy.launch(script, nproc=1, timeout=120)
    assert not result.ok and not result.killed_by_signal
    assert "ValueError: a bug in the training script" in result.summary()
