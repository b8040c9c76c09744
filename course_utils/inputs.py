"""Checks for what a person types on the command line or sets in the environment.

Each failure is a :class:`BadInput` whose message is one line that names the
input, says what was wrong and what to give instead; the CLI prints it and exits
with code 2, never with a traceback.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

MIN_INTERVAL_S = 0.01  # the sampler's fastest tested rate is 100 Hz
MAX_SECONDS = 7 * 24 * 3600.0  # a week: more is a typo (and overflows some timers)


class BadInput(ValueError):
    """An input the command cannot use: one line for the person who typed it."""


def seconds(text: str, *, minimum: float, maximum: float, hint: str = "") -> float:
    """A finite number of seconds in ``[minimum, maximum]`` (argparse ``type=``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise BadInput(f"must be a number of seconds from {minimum:g} to {maximum:g}, got {text!r}{hint}")
    return value


def whole_number(text: str, *, minimum: int, maximum: int | None = None, what: str = "GPUs") -> int:
    """A whole number in ``[minimum, maximum]`` (argparse ``type=``)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        span = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise BadInput(f"must be a whole number of {what} {span}, got {text!r}")
    return value


def output_file(path: str | os.PathLike, flag: str) -> Path:
    """Check, before any work is done, that ``path`` can be created or replaced as a file.

    Catches a folder given as the file, and a folder part that is a file or missing
    and cannot be made. (Permissions are only known for sure when writing: the
    writer reports that with :func:`write_error`.)
    """
    p = Path(path)
    if p.is_dir():
        raise BadInput(f"{flag} {path} is a folder: give a file name in it, e.g. {p / 'out.json'}")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise BadInput(f"{flag} {path}: {parent} is a file, not a folder: give a path in a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"{flag} {path}: no permission to write in {parent}: give a path in a folder you can write")
    return p


def write_error(flag: str, path: str | os.PathLike, exc: OSError) -> BadInput:
    """The one line for a file that could not be written."""
    why = exc.strerror or type(exc).__name__
    return BadInput(f"{flag} {path}: cannot write there ({why}): give a file in a folder you can write")
