"""Waiting for a background thread's effect in a test: a wait, never a timing assertion."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, poll: float = 0.02) -> bool:
    """Poll until ``predicate()`` holds; True then, AssertionError once ``timeout`` s have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    raise AssertionError(f"condition not reached within {timeout} s")
