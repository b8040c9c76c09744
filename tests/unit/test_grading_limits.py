"""Per-submission time limits: the solution's own time, scaled by the slowdown now and on GPUs."""

from traitlets.config import Config

from course_grading import timing
from course_grading.grading import limits_for


def test_limits_come_from_the_config_and_stay_off_without_it():
    config = Config()
    config.GradeSubmissions.solution_seconds = {"hw": 2.0}
    assert limits_for(config, "hw", 5, False, None) == {
        "cell_s": 5,
        "solution_s": 2.0,
        "fixed_cell": False,
        "gpu": False,
        "contention": 1.0,
    }
    assert limits_for(config, "other", 5, False, [0]) is None
    assert limits_for(Config(), "hw", 5, False, None) is None


def test_the_runs_own_workers_set_a_floor_under_the_slowdown(monkeypatch):
    """The first submissions start together, before their load shows in the busy-loop sample:
    workers x the solution's cores over the machine's cores is the slowdown to expect at least."""
    config = Config()
    config.GradeSubmissions.solution_seconds = {"hw": 2.0}
    config.GradeSubmissions.solution_cores = {"hw": 1.5}
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert limits_for(config, "hw", 5, False, None, workers=1)["contention"] == 1.0
    assert limits_for(config, "hw", 5, False, None, workers=4)["contention"] == 3.0
    monkeypatch.setattr(timing, "load_scale", lambda: 1.0)
    limits = limits_for(config, "hw", 5, False, None, workers=4)
    assert timing.scaled_limits(limits) == (15, round(timing.BUDGET_FACTOR * 2.0 * 3 + 15))
    monkeypatch.setattr(timing, "load_scale", lambda: 4.0)  # a busier machine than the workers explain
    assert timing.scaled_limits(limits) == (20, round(timing.BUDGET_FACTOR * 2.0 * 4 + 20))


def test_limits_grow_with_the_slowdown_and_on_gpus_but_a_given_cell_limit_stays(monkeypatch):
    monkeypatch.setattr(timing, "load_scale", lambda: 2.0)
    base = {"cell_s": 5, "solution_s": 2.0, "fixed_cell": False, "gpu": False}
    assert timing.scaled_limits(base) == (10, round(timing.BUDGET_FACTOR * 2.0 * 2 + 10))
    cell, budget = timing.scaled_limits({**base, "gpu": True})
    assert cell == 10 * timing.GPU_SCALE and budget == round(timing.BUDGET_FACTOR * 2.0 * 2 * timing.GPU_SCALE + cell)
    assert timing.scaled_limits({**base, "fixed_cell": True}) == (5, round(timing.BUDGET_FACTOR * 2.0 * 2 + 5))


def test_the_slowdown_is_at_least_one_and_bounded():
    assert 1.0 <= timing.load_scale(0.01) <= 20.0


def test_the_config_holds_the_limits_the_measured_solution_gives():
    """nbgrader_config.py's limits are what `timing measure` proposes from the recorded run."""
    import json
    from pathlib import Path

    from traitlets.config.loader import PyFileConfigLoader

    repo = Path(timing.__file__).resolve().parents[1]
    record = json.loads((repo / "docs" / "results" / "solution_times.json").read_text())
    config = PyFileConfigLoader("nbgrader_config.py", path=str(repo)).load_config()
    for assignment, info in record["assignments"].items():
        assert info["cell_timeout_s"] == round(max(timing.FLOOR_S, timing.FACTOR * info["slowest_cell_s"]))
        assert config.GradeSubmissions.cell_timeout[assignment] == info["cell_timeout_s"], assignment
        assert config.GradeSubmissions.solution_seconds[assignment] == info["solution_s"], assignment
        assert config.GradeSubmissions.solution_cores[assignment] == info["cores"], assignment


def test_the_class_estimate_counts_a_looping_submission_as_its_budget():
    record = {"assignments": {"hw": {"solution_s": 6.6, "cell_timeout_s": 14, "submission_timeout_s": 60}}}
    assert timing.looping_s(record["assignments"]["hw"]) == timing.BUDGET_FACTOR * 6.6 + 14
    rows = timing.estimate(record, {"cpu": {"workers": 2, "hw": 7.5}})
    hundred = next(r for r in rows if r["students"] == 100)
    assert hundred["honest_min"] == 12.5
    assert hundred["all_looping_min"] == round(100 * (7.5 + timing.looping_s(record["assignments"]["hw"]) / 2) / 60, 1)
    capped = {"solution_s": 100.0, "cell_timeout_s": 14, "submission_timeout_s": 60}
    assert timing.looping_s(capped) == 60, "never more than the hard cap per submission"
