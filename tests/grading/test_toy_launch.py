"""The training assignment's launcher: a rank killed by a signal is run once more, visibly."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "solutions" / "multi_gpu_training"))
import toy  # noqa: E402

pytestmark = pytest.mark.grading


def test_a_rank_aborting_once_is_run_again_and_the_summary_says_so(tmp_path):
    marker = tmp_path / "aborted-once"
    script = tmp_path / "flaky.py"
    script.write_text(f"import os, pathlib\nm = pathlib.Path({str(marker)!r})\n"
                      "if not m.exists():\n    m.touch()\n    os.abort()\n")
    result = toy.launch(script, nproc=1, timeout=120)
    assert result.ok and marker.exists()
    assert "run again once" in result.summary() and "exitcode" in result.earlier_attempt


def test_a_script_that_always_crashes_still_fails(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("import os\nos.abort()\n")
    result = toy.launch(script, nproc=1, timeout=120)
    assert not result.ok and result.killed_by_signal and result.earlier_attempt


def test_an_ordinary_error_is_not_retried(tmp_path):
    script = tmp_path / "bug.py"
    script.write_text("raise ValueError('a bug in the training script')\n")
    result = toy.launch(script, nproc=1, timeout=120)
    assert not result.ok and not result.earlier_attempt
    assert "ValueError: a bug in the training script" in result.summary()
