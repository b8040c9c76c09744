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
    }
    assert limits_for(config, "other", 5, False, [0]) is None
    assert limits_for(Config(), "hw", 5, False, None) is None


def test_limits_grow_with_the_slowdown_and_on_gpus_but_a_given_cell_limit_stays(monkeypatch):
    monkeypatch.setattr(timing, "load_scale", lambda: 2.0)
    base = {"cell_s": 5, "solution_s": 2.0, "fixed_cell": False, "gpu": False}
    assert timing.scaled_limits(base) == (10, round(timing.BUDGET_FACTOR * 2.0 * 2 + 10))
    cell, budget = timing.scaled_limits({**base, "gpu": True})
    assert cell == 10 * timing.GPU_SCALE and budget == round(timing.BUDGET_FACTOR * 2.0 * 2 * timing.GPU_SCALE + cell)
    assert timing.scaled_limits({**base, "fixed_cell": True}) == (5, round(timing.BUDGET_FACTOR * 2.0 * 2 + 5))


def test_the_slowdown_is_at_least_one_and_bounded():
    assert 1.0 <= timing.load_scale(0.01) <= 20.0
