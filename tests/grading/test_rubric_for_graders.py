"""The rubric of the written answer is where the grader works: in the hidden part of the last
autograded test before the answer (formgrader shows autograded notebooks, with hidden tests put
back), the same text as the model answer's rubric, and never in the release."""

from __future__ import annotations

import re

import nbformat
from grading_support import REPO


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _rubric_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_the_grader_sees_the_same_rubric_as_the_model_answer():
    nb = nbformat.read(REPO / "solutions" / "multi_gpu_training" / "multi_gpu_training.ipynb", as_version=4)
    answer = _cell(nb, "comparison").source
    model = answer[answer.index("**Rubric") : answer.index("### END SOLUTION")]
    test = _cell(nb, "test_train_local").source
    hidden = test[test.index("### BEGIN HIDDEN TESTS") : test.index("### END HIDDEN TESTS")]
    for_grader = "\n".join(re.sub(r"^# ?", "", line) for line in hidden.splitlines() if line.startswith("#"))
    assert _rubric_lines(model) == _rubric_lines(for_grader[for_grader.index("**Rubric") :]), (
        "the rubric in test_train_local's hidden part differs from the one in the comparison answer: copy it"
    )
    order = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    graded_tests = [
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
    ]
    assert max(graded_tests) == order.index("test_train_local") < order.index("comparison")


def test_the_release_has_no_rubric():
    release = (REPO / "exercises" / "multi_gpu_training" / "multi_gpu_training.ipynb").read_text()
    assert "Rubric" not in release and "For the person who grades" not in release
