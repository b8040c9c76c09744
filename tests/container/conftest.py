"""Fixtures of the container smoke tests (helpers: container_support.py)."""

from __future__ import annotations

import uuid

import pytest
from container_support import GRADING, WORKSHOP, Container, podman, require_image


@pytest.fixture
def container_factory():
    made: list[Container] = []

    def make(image: str) -> Container:
        require_image(image)
        c = Container(image)
        made.append(c)
        return c

    yield make
    for c in made:
        c.remove()


@pytest.fixture(scope="session")
def workshop_image() -> str:
    require_image(WORKSHOP)
    return WORKSHOP


@pytest.fixture(scope="session")
def grading_image() -> str:
    require_image(GRADING)
    return GRADING


@pytest.fixture
def volume():
    name = f"course-test-work-{uuid.uuid4().hex[:8]}"
    yield name
    podman("volume", "rm", "-f", name)
