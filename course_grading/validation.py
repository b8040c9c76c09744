"""``nbgrader validate`` with the points: each failing graded cell says what it is worth.

nbgrader's Validator lists a failing cell's source and traceback but not its points, so a
learner cannot tell a 2-point failure from a 1-point one (issue 15). nbgrader_config.py calls
``show_points()``; the Validator has no hook for this, so its error text is wrapped.
"""

from __future__ import annotations


def show_points() -> None:
    from nbgrader.validator import Validator

    if getattr(Validator, "_course_points", False):
        return
    extract = Validator._extract_error

    def extract_with_points(self, cell) -> str:
        text = extract(self, cell)
        meta = cell.metadata.get("nbgrader", {})
        if text and meta.get("grade") and meta.get("points"):
            text = f"{meta.get('grade_id')}: 0 of {meta['points']:g} point(s) as it stands\n{text}"
        return text

    Validator._extract_error = extract_with_points
    Validator._course_points = True
