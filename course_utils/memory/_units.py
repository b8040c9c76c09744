"""Byte formatting shared by the memory reports."""

from __future__ import annotations

GiB = 1024**3
MiB = 1024**2


def fmt_bytes(n: int | None) -> str:
    """``1536 MiB`` -> ``"1.50 GiB"``; ``None`` -> ``"n/a"``."""
    if n is None:
        return "n/a"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n >= GiB:
        return f"{sign}{n / GiB:.2f} GiB"
    if n >= MiB:
        return f"{sign}{n / MiB:.1f} MiB"
    if n >= 1024:
        return f"{sign}{n / 1024:.1f} KiB"
    return f"{sign}{n} B"
