"""The placeholders ``docker stats --format`` accepts, read from the installed docker client.

The client checks a stats template only while printing stats from a daemon, so with no daemon a
template cannot be tried. The placeholders are the methods of the client's stats formatter
(``cli/command/container/formatter_stats.go``: ``{{.CPUPerc}}`` calls ``statsContext.CPUPerc``);
their names are in the client's binary, so this reads them from there instead of from a list
typed by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from .check import find_docker

_METHOD = re.compile(rb"\(\*statsContext\)\.([A-Z][A-Za-z]*)")
_NOT_FIELDS = {"FullHeader", "MarshalJSON"}  # formatter plumbing, not columns


def stats_placeholders(docker: str | None = None) -> set[str] | None:
    """The ``{{.Field}}`` names of ``docker stats --format``, or None without a docker client."""
    exe = docker or find_docker()
    if exe is None:
        return None
    data = Path(exe).resolve().read_bytes()
    names = {m.decode() for m in _METHOD.findall(data)} - _NOT_FIELDS
    if not names:
        raise RuntimeError(
            f"{exe} has no stats formatter symbols (a stripped or unusual build): cannot list its placeholders"
        )
    return names
