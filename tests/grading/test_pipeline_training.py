"""The training assignment's time limits, end to end: a submission whose every answer loops is
stopped after a few times an honest submission's time (issue 19), in the sandbox, with a note
that says where. Its other grading paths are tested in test_attacks.py (the hostile class)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grading_support import GRADE, run

from course_grading import variants as V

pytestmark = pytest.mark.grading

T = "multi_gpu_training"


def test_a_looping_training_submission_costs_a_few_times_an_honest_one(course: Path):
    source = V.read(course / "solutions" / T / f"{T}.ipynb")
    release = V.read(course / "exercises" / T / f"{T}.ipynb")
    good = V.perfect(source, release)
    # the DDP script loops as it is imported (by the tests and by each torchrun rank), and so
    # does the cell that defines train_local
    looping = V.prepend(V.prepend(good, "ddp_script", V.BUSY_LOOP), "train_local", V.BUSY_LOOP)
    subs = course / "incoming"
    V.write(good, subs / "honest", T)
    V.write(looping, subs / "looping", T)
    done = run([*GRADE, T, subs, "--workers", "1", "--out", course / "reports"], cwd=course, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((course / "reports" / "report.json").read_text())
    rows = {r["student"]: r for r in report["students"]}
    honest, loop = rows["honest"], rows["looping"]
    assert honest["score"] == 11 and honest["notes"] == [], honest
    assert loop["score"] == 0
    assert any("stopped for time in " in n and "not run" in n for n in loop["notes"]), loop["notes"]
    ratio = loop["seconds"] / honest["seconds"]
    print(f"looping {loop['seconds']:.1f} s, honest {honest['seconds']:.1f} s: {ratio:.1f}x; limits {loop['limits']}")
    assert ratio < 5, (loop, honest)
