import pytest

from course_utils.containers import find_docker
from course_utils.exercises import nb04

TRUTH = {
    ("12.4", "535.104.05"): True,
    ("13.0", "570.86.10"): False,
    ("12.9", "580.65.06"): True,
    ("11.8", "520.61.05"): True,
    ("13.0", "580.65.06"): True,
}
PINNED = "python:3.11.14-slim-trixie@" + nb04.EXAMPLE_DIGEST


def test_compat_predictions():
    assert set(TRUTH) == set(nb04.PAIRS)
    assert nb04.check_compat_predictions(TRUTH).ok
    fb = nb04.check_compat_predictions({**TRUTH, ("13.0", "570.86.10"): True})
    assert not fb.ok and "13.0" in fb.message and "580.65.06" not in fb.message + fb.hint
    assert not nb04.check_compat_predictions({p: None for p in nb04.PAIRS}).ok
    assert not nb04.check_compat_predictions(None).ok


def test_pinned_image():
    assert nb04.check_pinned_image(PINNED).ok
    for wrong, words in (
        (None, "empty"),
        ("python:3.11.14-slim-trixie", "not pinned"),
        ("python@" + nb04.EXAMPLE_DIGEST, "keep the name"),
        ("python:3.11@" + nb04.EXAMPLE_DIGEST, "keep the name"),
        ("python:3.11.14-slim-trixie@sha256:" + "0" * 64, "not the one"),
    ):
        fb = nb04.check_pinned_image(wrong)
        assert not fb.ok and words in fb.message, (wrong, str(fb))
        assert PINNED not in str(fb)


@pytest.mark.skipif(find_docker() is None, reason="needs the docker client")
def test_the_real_client_rejects_a_broken_digest():
    fb = nb04.check_pinned_image(PINNED[:-2])
    assert not fb.ok and "accept" in fb.message


def test_odd_types_get_feedback_not_a_crash():
    assert not nb04.check_pinned_image(42).ok
