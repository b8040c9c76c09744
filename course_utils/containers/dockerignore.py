"""Which files a ``.dockerignore`` lets into the build context (docker's matching rules).

Rules, as in moby's ``patternmatcher``: patterns are paths relative to the
context root; ``*`` and ``?`` stay within one path segment, ``**`` spans any
number of segments; a pattern that matches a folder matches everything under
it; a leading ``!`` re-includes; the last matching pattern wins.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern
    exclusion: bool  # a "!" pattern: re-include


def _to_regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"unclosed [ in .dockerignore pattern {pattern!r}")
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else re.escape(body)) + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def parse(text: str) -> list[Pattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        body = line[1:].strip() if exclusion else line
        body = posixpath.normpath(body.lstrip("/")) if body not in ("", "/") else "."
        patterns.append(Pattern(line, _to_regex(body), exclusion))
    return patterns


def is_ignored(path: str, patterns: list[Pattern]) -> bool:
    """True when ``path`` (relative, with /) stays out of the build context."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        if any(pattern.regex.fullmatch(c) for c in candidates):
            ignored = not pattern.exclusion
    return ignored


def context_files(root: Path, ignore_file: Path, skip: tuple[str, ...] = (".git", ".venv")) -> Iterator[str]:
    """Files under ``root`` that a build with ``ignore_file`` would send (relative paths).

    ``skip`` folders are not walked at all (they are large); they are reported if not ignored.
    """
    patterns = parse(Path(ignore_file).read_text(encoding="utf-8"))
    root = Path(root)
    for name in skip:
        if (root / name).exists() and not is_ignored(name, patterns):
            yield name + "/"
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root).as_posix()
        if rel_folder == ".":
            dirs[:] = [d for d in dirs if d not in skip]
            rel_folder = ""
        dirs.sort()
        for name in sorted(files):
            rel = f"{rel_folder}/{name}" if rel_folder else name
            if not is_ignored(rel, patterns):
                yield rel
