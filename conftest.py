"""Repository-wide pytest hooks: per-notebook execution times in the summary.

(A root conftest so that it sees items collected from notebooks/ and solutions/ too.)
"""

from collections import defaultdict
from pathlib import Path

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("notebook execution times")
    total = 0.0
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        total += seconds
        terminalreporter.write_line(f"{seconds:8.1f} s  {Path(path)}")
    terminalreporter.write_line(f"{total:8.1f} s  total")
