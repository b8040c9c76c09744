"""Fixtures for the nbgrader end-to-end tests (helpers: grading_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from grading_support import make_course


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path)


@pytest.fixture(scope="module")
def module_course(tmp_path_factory) -> Path:
    return make_course(tmp_path_factory.mktemp("grading"))
