"""Repository-wide pytest hooks: test tiers, and per-notebook execution times in the summary.

(A root conftest so that it sees items collected from notebooks/ and solutions/ too.)

Tiers. Every marker declared in pyproject.toml's ``markers`` is a tier (``notebooks``,
``grading``, ``browser``, ``gpu`` and any added later), except the attribute markers in
``NOT_TIERS`` (``slow`` says how long, not what kind). A test's tier is the first declared tier
marker it carries, or ``unit`` if none. Notebooks and solutions collected by nbval get the
``notebooks`` marker here; tests under tests/gpu/ get ``gpu``, and a ``gpu`` test elsewhere is a
collection error (they all live in tests/gpu/, which the GPU validation runs).

``--tiers unit,grading`` keeps only those tiers (``make test-fast``: ``--tiers unit -m "not slow"``).
At the end of every run a table gives each tier's tests, outcomes and summed durations.
"""

import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
NOT_TIERS = {"slow"}
NOTEBOOK_DIRS = ("notebooks", "solutions")

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)
_TIER_OF: dict[str, str] = {}
_TIER_SECONDS: dict[str, float] = defaultdict(float)
_OUTCOME: dict[str, str] = {}  # per test: the worst of its phases (failed > skipped > passed)
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def pytest_addoption(parser):
    parser.addoption(
        "--tiers",
        default=None,
        metavar="TIER,...",
        help="run only these test tiers (unit, notebooks, grading, browser, gpu, ...)",
    )


def declared_tiers(config) -> list[str]:
    """The markers this project declares in pyproject.toml, not those plugins add (skip, timeout...)."""
    pyproject = Path(config.inipath or ROOT / "pyproject.toml")
    options = tomllib.loads(pyproject.read_text()).get("tool", {}).get("pytest", {}).get("ini_options", {})
    names = [line.split(":", 1)[0].strip() for line in options.get("markers", [])]
    return [n for n in names if n and n not in NOT_TIERS]


def tier_of(item, tiers: list[str]) -> str:
    own = {m.name for m in item.iter_markers()}
    return next((t for t in tiers if t in own), "unit")


def _relative(item) -> Path | None:
    try:
        return Path(str(item.path)).resolve().relative_to(ROOT)
    except ValueError:
        return None


@pytest.hookimpl(tryfirst=True)  # before -m selects: the markers added here must count
def pytest_collection_modifyitems(config, items):
    tiers = declared_tiers(config)
    misplaced = []
    for item in items:
        rel = _relative(item)
        if rel is not None and rel.suffix == ".ipynb" and rel.parts[0] in NOTEBOOK_DIRS:
            item.add_marker(pytest.mark.notebooks)
        in_gpu_dir = rel is not None and rel.parts[:2] == ("tests", "gpu")
        if in_gpu_dir:
            item.add_marker(pytest.mark.gpu)
        elif item.get_closest_marker("gpu") is not None:
            misplaced.append(item.nodeid)
        _TIER_OF[item.nodeid] = tier_of(item, tiers)
    if misplaced:
        raise pytest.UsageError(
            "gpu-marked tests must live in tests/gpu/ (the GPU validation runs that folder): "
            + ", ".join(misplaced[:5])
        )
    wanted = config.getoption("--tiers")
    if wanted:
        keep = {t.strip() for t in wanted.split(",") if t.strip()}
        unknown = keep - {"unit", *tiers}
        if unknown:
            raise pytest.UsageError(f"--tiers: unknown tier(s) {sorted(unknown)}; tiers: unit, {', '.join(tiers)}")
        selected = [i for i in items if _TIER_OF[i.nodeid] in keep]
        deselected = [i for i in items if _TIER_OF[i.nodeid] not in keep]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration
    _TIER_SECONDS[_TIER_OF.get(report.nodeid, "unit")] += report.duration
    before = _OUTCOME.get(report.nodeid, "passed")
    _OUTCOME[report.nodeid] = max(before, report.outcome, key=lambda o: _RANK.get(o, 0))


def pytest_terminal_summary(terminalreporter):
    if _NOTEBOOK_SECONDS:
        terminalreporter.section("notebook execution times")
        total = 0.0
        for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
            total += seconds
            terminalreporter.write_line(f"{seconds:8.1f} s  {Path(path)}")
        terminalreporter.write_line(f"{total:8.1f} s  total")
    if not _OUTCOME:
        return
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for nodeid, outcome in _OUTCOME.items():
        counts[_TIER_OF.get(nodeid, "unit")][outcome] += 1
    terminalreporter.section("time per test tier (setup + call + teardown, summed)")
    terminalreporter.write_line(f"{'tier':<12}{'tests':>7}{'passed':>8}{'failed':>8}{'skipped':>9}{'seconds':>10}")
    for tier in sorted(counts, key=lambda t: -_TIER_SECONDS[t]):
        c = counts[tier]
        terminalreporter.write_line(
            f"{tier:<12}{sum(c.values()):>7}{c['passed']:>8}{c['failed']:>8}"
            f"{c['skipped']:>9}{_TIER_SECONDS[tier]:>10.1f}"
        )
    terminalreporter.write_line(f"{'total':<12}{len(_OUTCOME):>7}{'':>25}{sum(_TIER_SECONDS.values()):>10.1f}")
