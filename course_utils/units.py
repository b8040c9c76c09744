"""Byte units, defined once for the whole package, and a formatter for reports.

Binary units throughout, as NVML, ``nvidia-smi`` and PyTorch report memory: a MiB is 2**20 bytes.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024**2
GIB = 1024**3


def fmt_bytes(n: int | None) -> str:
    """``1536 MiB`` -> ``"1.50 GiB"``; ``None`` -> ``"n/a"``."""
    if n is None:
        return "n/a"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n >= GIB:
        return f"{sign}{n / GIB:.2f} GiB"
    if n >= MIB:
        return f"{sign}{n / MIB:.1f} MiB"
    if n >= KIB:
        return f"{sign}{n / KIB:.1f} KiB"
    return f"{sign}{n} B"
