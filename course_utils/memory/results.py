"""The figures ``benchmarks/memory_bench.py`` measured on a GPU (``docs/results/memory.json``), for notebooks.

Notebooks show measured figures only: when the file is absent they say "not
measured yet" rather than showing an example.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..units import GIB, MIB

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results" / "memory.json"
NOT_MEASURED = (
    "not measured yet: run `python benchmarks/memory_bench.py --out docs/results/memory.json` on a GPU machine"
)


def load_results(path: str | Path | None = None) -> dict | None:
    """The measured figures, or ``None`` if they were never measured (or the file is unreadable)."""
    target = Path(path) if path is not None else RESULTS
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("measured") else None


def _gib(n) -> str:
    return "n/a" if n is None else f"{n / GIB:.2f} GiB"


def _cap_lines(cap: dict) -> list[str]:
    if "error" in cap:
        return [f"cap: {cap['error'][:300]}"]
    if not cap:
        return ["cap: not run"]
    return [
        f"per-process fraction {cap['fraction']:.4f} -> cap {_gib(cap['cap_bytes'])}",
        f"  cap - {cap['margin_bytes'] // MIB} MiB: {'allocated' if cap['under_cap_ok'] else 'FAILED'}; "
        f"cap + {cap['margin_bytes'] // MIB} MiB: {'OutOfMemoryError' if cap['over_cap_raised'] else 'NOT refused'}",
        f"  batch {cap['batch']} x hidden {cap['hidden']}: full batch {'fits' if cap['full_batch_fits'] else 'OOM'}; "
        f"forward_in_chunks used chunk {cap['chunk_used']} after {cap['ooms_during_recovery']} more OOM(s), "
        f"{cap['recovered_s']:.2f} s (same chunk from the start {cap['same_chunk_from_start_s']:.2f} s)",
        f"  output equals the reference (chunks of {cap['reference_chunk']}): bitwise "
        f"{cap['equal_to_reference']}, max |diff| {cap['max_abs_diff']:.2e}",
    ]


def _n(value) -> str:
    return "n/a" if value is None else str(value)


def _frag_lines(results: dict) -> list[str]:
    lines = [
        f"{'allocator':<26}{'peak alloc':>11}{'peak reserved':>14}{'ratio':>6}{'max cache':>11}"
        f"{'cudaMalloc':>11}{'OOMs@cap':>9}{'retries@cap':>12}"
    ]
    for name, label in (("frag-default", "default"), ("frag-expandable", "expandable_segments:True")):
        part = results.get(name) or {"error": "not run"}
        if "error" in part:
            lines.append(f"{label:<26}{part['error'][:90]}")
            continue
        u, c = part["uncapped"], part["capped"]
        lines.append(
            f"{label:<26}{_gib(u['peak_allocated']):>11}{_gib(u['peak_reserved']):>14}"
            f"{u['peak_reserved_over_peak_allocated']:>6.2f}{_gib(u['max_reserved_minus_allocated']):>11}"
            f"{_n(u['num_device_alloc']):>11}{_n(c['ooms']):>9}{_n(c['num_alloc_retries']):>12}"
        )
    return lines


def _cache_lines(cache: dict) -> list[str]:
    if "error" in cache:
        return [f"cache: {cache['error'][:300]}"]
    if not cache:
        return ["cache: not run"]
    lines = []
    for name in ("keep_cache", "empty_cache_each_step"):
        r = cache[name]
        lines.append(
            f"{name:<22} median step {r['median_step_ms']:.2f} ms, reserved after a step "
            f"{_gib(r['reserved_after_step_min'])}-{_gib(r['reserved_after_step_max'])}, "
            f"cudaMalloc per step {r['cudamalloc_per_step']:.1f}"
        )
    lines.append(f"empty_cache() after every step: {cache['slowdown']:.2f}x the step time")
    return lines


PARTS = ("cap", "frag", "cache")


def format_results(results: dict | None, part: str | None = None) -> str:
    """Plain-text figures (all, or one part: cap, frag, cache); tolerates parts that failed."""
    if part is not None and part not in PARTS:
        raise ValueError(f"part must be one of {PARTS} or None, got {part!r}")
    if results is None:
        return NOT_MEASURED
    head = (
        f"measured on {results.get('gpu', '?')}, torch {results.get('torch', '?')}, "
        f"{results.get('date', '?')}{' (quick run)' if results.get('quick') else ''}"
    )
    sections = {
        "cap": _cap_lines(results.get("cap") or {}),
        "frag": _frag_lines(results),
        "cache": _cache_lines(results.get("cache") or {}),
    }
    chosen = PARTS if part is None else (part,)
    return "\n".join([head, *("\n".join(sections[name]) for name in chosen)])
