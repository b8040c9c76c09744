"""Helpers for this assignment's tests (given; the autograder uses its own copy of this file).

Each test cell reloads this module and checks the notebook first, so a notebook that
redefines a name (a helper, or a Python builtin such as ``all`` or ``len``) cannot
change what a test checks.
"""

from __future__ import annotations

import builtins
import math
import tempfile
from pathlib import Path

# the builtins the tests use: shadowing one of them in the notebook fails the test
TEST_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance", "len", "list",
    "max", "min", "range", "repr", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip",
    "AssertionError", "Exception", "ValueError",
)
METRICS = ("memory_used_mib", "temperature_c", "utilization_pct")


def no_shadowed_builtins(namespace: dict) -> None:
    shadowed = [name for name in TEST_BUILTINS
                if name in namespace and namespace[name] is not getattr(builtins, name)]
    if shadowed:
        raise AssertionError(f"this notebook redefines the Python builtin(s) {', '.join(shadowed)}; "
                             "the tests rely on them: rename your variables and run again")


def plain(value, where: str = "result"):
    """``value`` as plain dicts/lists/numbers/strings, or an AssertionError: an object that
    merely claims to be equal to everything is not an answer. (NumPy numbers are fine.)"""
    if value is None:
        return None
    for kind in (bool, int, float, str):  # bool before int; converting drops any odd __eq__
        if isinstance(value, kind):
            return kind(value)
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return plain(value.item(), where)  # a NumPy scalar of another kind
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(list(value))]
    if isinstance(value, dict):
        return {plain(k, f"key of {where}"): plain(v, f"{where}[{k!r}]") for k, v in dict.items(value)}
    raise AssertionError(f"{where} is a {type(value).__name__}; expected plain dicts, lists, "
                         "numbers, strings or None")


def read_trace(backend, n_samples: int) -> dict:
    """What ``track`` must return, read straight from the backend (no Sampler)."""
    series: dict = {}
    for _ in range(n_samples):
        snap = backend.snapshot()
        for gpu in snap.gpus:
            per_gpu = series.setdefault(gpu.index, {"timestamp": [], **{m: [] for m in METRICS}})
            per_gpu["timestamp"].append(snap.timestamp)
            for metric in METRICS:
                per_gpu[metric].append(getattr(gpu, metric))
    return series


def same(a, b, tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0.0, abs_tol=tol)


def assert_series_equal(actual, expected: dict, tol: float = 1e-9) -> None:
    actual = plain(actual, "the series")
    assert sorted(actual) == sorted(expected), f"GPUs {sorted(actual)}, expected {sorted(expected)}"
    for gpu, want in expected.items():
        got = actual[gpu]
        assert sorted(got) == sorted(want), f"GPU {gpu}: keys {sorted(got)}, expected {sorted(want)}"
        for key, values in want.items():
            assert len(got[key]) == len(values), (
                f"GPU {gpu} {key}: {len(got[key])} values, expected {len(values)}")
            for i, (g, w) in enumerate(zip(got[key], values, strict=True)):
                assert same(g, w, tol), f"GPU {gpu} {key}[{i}] is {g!r}, expected {w!r}"


def assert_log_matches(log, expected: dict, tol: float = 1e-3) -> None:
    """The rows of a CSV log (``read_metrics_csv``) hold the trace ``expected`` (3 decimals)."""
    for gpu, want in expected.items():
        rows = [r for r in log.rows if r["gpu"] == gpu]
        assert len(rows) == len(want["timestamp"]), (
            f"GPU {gpu}: {len(rows)} rows in the log, expected {len(want['timestamp'])}")
        for i, row in enumerate(rows):
            for key, values in want.items():
                assert same(row[key], values[i], tol), (
                    f"GPU {gpu} row {i} {key} is {row[key]!r}, expected {values[i]!r}")


def write_log(path, trace: dict, columns) -> None:
    """Write ``trace`` (as from ``read_trace``) as a metrics log with ``columns``, the way
    CsvLogger formats it (3 decimals, empty field for None), without using CsvLogger."""

    def fmt(value) -> str:
        return "" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")

    lines = [",".join(columns)]
    n = len(next(iter(trace.values()))["timestamp"]) if trace else 0
    for i in range(n):
        for gpu in sorted(trace):
            row = {"gpu": str(gpu), **{k: fmt(v[i]) for k, v in trace[gpu].items()}}
            lines.append(",".join(row[c] for c in columns))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def scratch() -> Path:
    """A fresh folder for a test's files, under work/ (graded with the notebook, not left in /tmp)."""
    Path("work").mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="check-", dir="work"))
