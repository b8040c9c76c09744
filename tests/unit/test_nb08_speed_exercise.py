"""Notebook 08, exercise 3: reading the recorded `bench speed` run (only that run's rows count)."""

import json

from course_utils.exercises.nb08 import check_speed_reading, ddp_lost_ms, speed_run

RUN = "2026-11-30T02:30:00Z"


def _file(tmp_path, stale_row=True):
    rows = [
        {
            "run": RUN,
            "model": "resnet50",
            "mode": "single",
            "gpus": 1,
            "batch": 256,
            "compile": "none",
            "img_per_s": 4000.0,
        },
        {
            "run": RUN,
            "model": "resnet50",
            "mode": "single",
            "gpus": 1,
            "batch": 512,
            "compile": "reduce-overhead",
            "img_per_s": 7000.0,
        },
        {
            "run": RUN,
            "model": "resnet50",
            "mode": "ddp",
            "gpus": 2,
            "batch": 500,
            "compile": "default",
            "img_per_s": 9500.0,
            "baseline_img_per_s": 5000.0,
        },
    ]
    if stale_row:  # another day's faster row: must not be compared
        rows.append(
            {
                "run": "2026-11-28T00:00:00Z",
                "model": "resnet50",
                "mode": "single",
                "gpus": 1,
                "batch": 256,
                "compile": "default",
                "img_per_s": 9999.0,
            }
        )
    path = tmp_path / "multi_gpu.json"
    path.write_text(json.dumps({"bench_speed": {"run": RUN, "lines": [], "targets": []}, "runs": rows}))
    return path


def test_only_the_last_runs_rows_are_read(tmp_path):
    rows, summary = speed_run(_file(tmp_path))
    assert summary["run"] == RUN and len(rows) == 3
    row, lost = ddp_lost_ms(rows)
    assert row["mode"] == "ddp" and abs(lost - (1e3 * 500 / 4750 - 1e3 * 500 / 5000)) < 1e-9  # 5.26 ms


def test_right_answers_pass_and_wrong_ones_say_which(tmp_path):
    path = _file(tmp_path)
    lost = 1e3 * 500 / 4750 - 100.0
    assert check_speed_reading(7000 / 4000, lost, path).ok
    assert not check_speed_reading(None, lost, path).ok
    wrong = check_speed_reading(9999 / 4000, lost, path)  # used the other day's row
    assert not wrong.ok and "speedup" in wrong.message
    wrong = check_speed_reading(1.75, 1e3 * 500 / 9500 - 100.0, path)  # forgot to divide by the GPUs
    assert not wrong.ok and "lost_ms" in wrong.message
    assert not check_speed_reading(True, lost, path).ok


def test_no_recorded_run_says_how_to_make_one(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"runs": [{"model": "resnet50", "mode": "single", "img_per_s": 1.0}]}))
    fb = check_speed_reading(1.0, 1.0, path)
    assert not fb.ok and "bench speed" in fb.hint
    assert not check_speed_reading(1.0, 1.0, tmp_path / "absent.json").ok
