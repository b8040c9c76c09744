"""Progress events: one JSON line per event from rank 0, a bar in the notebook.

The worker prints ``@@course {...}`` lines on stdout; the launcher, reading the
job's output in the notebook's main thread, turns them into a progress bar
(:class:`course_utils.widgets.progress.ProgressView`, with the other Jupyter views)
and shows every other line as it comes.
"""

from __future__ import annotations

import json
import sys

from ..widgets.progress import ProgressView

__all__ = ["PREFIX", "ProgressView", "emit", "format_event", "parse_event"]

PREFIX = "@@course "


def format_event(event: dict) -> str:
    return PREFIX + json.dumps(event, separators=(",", ":"))


def emit(event: dict, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(format_event(event) + "\n")
    stream.flush()


def parse_event(line: str) -> dict | None:
    """The event in a line of output, or None for an ordinary line (or a garbled event)."""
    line = line.strip()
    if not line.startswith(PREFIX):
        return None
    try:
        event = json.loads(line[len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None
