"""End to end for the multi-GPU assignment: the DDP solution gets every automatic point (the
written comparison waits for a person), the release none, and a script that logs from every
rank loses exactly that part. On a machine with 2 GPUs the same run goes through NCCL."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from gradekit import variants as V
from grading_support import run

pytestmark = [pytest.mark.grading, pytest.mark.slow]

A = NB = "multi_gpu_training"
POINTS = {"test_make_loader": 2, "test_wrap_model": 1, "test_torchrun": 2, "test_each_sample_once": 2,
          "test_matches_single_process": 2, "test_loss_and_rank0_logging": 1, "test_train_local": 1}


def test_training_submissions_are_graded_on_correctness(course: Path):
    source = V.read(course / "solutions" / A / f"{NB}.ipynb")
    release = V.read(course / "exercises" / A / f"{NB}.ipynb")
    good = V.perfect(source, release)
    subs = course / "incoming"
    V.write(good, subs / "perfect", NB)
    V.write(release, subs / "untouched", NB)
    V.write(V.replace(good, "ddp_script", "if rank == 0:", "if True:"), subs / "every_rank_logs", NB)
    done = run([sys.executable, course / "scripts" / "grade_submissions.py", A, subs, "--workers", "2",
                "--out", course / "reports"], cwd=course, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads((course / "reports" / "report.json").read_text())
    rows = {r["student"]: r for r in report["students"]}
    full = {f"{NB}:{cell}": float(points) for cell, points in POINTS.items()}
    assert report["auto_max_score"] == 11 and report["max_score"] == 14

    assert rows["perfect"]["cells"] == {**full, f"{NB}:comparison": None}, rows["perfect"]
    assert rows["perfect"]["needs_manual_grade"] and rows["perfect"]["auto_score"] == 11
    assert rows["untouched"]["auto_score"] == 0 and rows["untouched"]["score"] == 0
    assert rows["untouched"]["cells"][f"{NB}:comparison"] == 0, "an unanswered question scores 0 without a person"
    assert rows["every_rank_logs"]["cells"] == {**full, f"{NB}:test_loss_and_rank0_logging": 0.0,
                                                f"{NB}:comparison": None}
    # what the solution's DDP run used, as it recorded it
    ran = json.loads((course / "autograded" / "perfect" / A / "work" / "run_ddp" / "run.json").read_text())
    assert ran["world_size"] == 2 and ran["wrapped_in"] == "DistributedDataParallel"
    assert ran["backend"] == ("nccl" if ran["cuda_devices"] >= 2 else "gloo")
    assert (course / "feedback" / "perfect" / A / f"{NB}.html").exists()
