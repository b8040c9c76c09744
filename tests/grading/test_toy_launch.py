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
    script.write_text(
        f"import os, pathlib\nwith open({str(runs)!r}, 'a') as f:\n    f.write('x')\n"
        "print('terminate called without an active exception', flush=True)\nos.abort()\n"
    )
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


def test_queued_runs_share_one_job_and_keep_their_own_results(tmp_path):
    """The autograder's run with other settings (toy.also_run) goes into the same torchrun job,
    in a new process group; a failure in it leaves the first run's result as it was."""
    script = tmp_path / "pg.py"
    script.write_text(
        "import sys, torch.distributed as dist\n"
        "dist.init_process_group('gloo')\n"
        "t = __import__('torch').ones(1)\n"
        "dist.all_reduce(t)\n"
        "if dist.get_rank() == 0:\n"
        "    print('sum', int(t.item()), sys.argv[1:], flush=True)\n"
        "if sys.argv[1:] == ['bad']:\n"
        "    raise ValueError('only the second setting fails')\n"
        "dist.destroy_process_group()\n"
    )
    toy.also_run(["again"])
    toy.also_run(["bad"])
    first = toy.launch(script, nproc=2, args=["first"], timeout=120)
    assert first.ok and first.stdout == "sum 2 ['first']\n", first.summary()
    again, bad = first.also
    assert again.ok and again.stdout == "sum 2 ['again']\n", again.summary()
    assert not bad.ok and "ValueError: only the second setting fails" in bad.summary()
    assert toy.launch(script, nproc=1, args=["alone"]).also == [], "the queue is used up by one launch"
