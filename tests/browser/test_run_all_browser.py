"""Run All on every course notebook in JupyterLab, in headless Chromium, as a learner would.

Issue 15's "done when": after Run All, no error or stderr box shows, and the widgets
(06's status line, 09's dashboard and status line, the quizzes) are still visible, not
blank. One JupyterLab serves a throw-away copy of the repository (so autosave can never
write outputs into the real notebooks), with its own config, data and settings
directories; each notebook runs in a fresh kernel that is shut down afterwards.
Per-notebook times and findings go to test-artifacts/run-all.json.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.browser import NO_NEWS, chromium, jupyterlab, require_chromium, wait_kernel_idle
from support.localhost import DIRECT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# notebooks whose widgets must still show after Run All, and what must be in them
MUST_SHOW = {
    "06_pytorch_memory.ipynb": [".cud-sl"],  # the status line
    "09_monitoring.ipynb": [".course-gpu-dashboard .cud-card", ".cud-sl"],  # dashboard and status line
}
RUN_LIMIT_S = 420
_RESULTS: dict[str, dict] = {}


def _api(lab, path: str, method: str = "GET"):
    request = urllib.request.Request(
        f"{lab['base']}{path}", method=method, headers={"Authorization": f"token {lab['token']}"}
    )
    try:
        with DIRECT.open(request, timeout=10) as response:
            body = response.read()
            return response.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def _copy_repo(dest: Path) -> None:
    skip = {".git", ".venv", "_build", "test-artifacts", ".pytest_cache", "__pycache__", ".ruff_cache"}
    shutil.copytree(ROOT, dest, symlinks=True, ignore=lambda _d, names: [n for n in names if n in skip])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_chromium()
    tmp = tmp_path_factory.mktemp("runall")
    root = tmp / "course"
    _copy_repo(root)
    settings = {
        **NO_NEWS,
        "docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        # every cell in the page, so that the checks see every output (not only those scrolled into view)
        "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    try:
        with (
            jupyterlab(tmp, root, pythonpath=root, settings=settings, start_timeout=90) as info,
            chromium(tmp / "profile") as browser,
        ):
            yield {**info, "browser": browser}
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "run-all.json").write_text(json.dumps(_RESULTS, indent=1))


def _shutdown_kernels(lab) -> None:
    _, kernels = _api(lab, "/api/kernels")
    for kernel in kernels or []:
        _api(lab, f"/api/kernels/{kernel['id']}", method="DELETE")


def _wait_until_run(page, limit_s: float) -> None:
    """Every cell has run: no prompt shows [*] and the kernel is idle, for 2 s in a row."""
    deadline, quiet_since = time.monotonic() + limit_s, None
    while time.monotonic() < deadline:
        busy = page.evaluate("""() => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')];
            const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
            return prompts.some(p => p.innerText.includes('*')) || (ind && ind.dataset.status !== 'idle');
        }""")
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 2.0:
            return
        time.sleep(0.5)
    raise AssertionError(f"Run All did not finish in {limit_s:.0f} s")


FINDINGS_JS = """() => {
    const text = e => (e.innerText || '').trim();
    const stderr = [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => text(e).slice(0, 400));
    const widgets = [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]')].map(e => {
            const box = e.getBoundingClientRect();
            return {text: text(e).slice(0, 120), height: box.height, svg: !!e.querySelector('svg'),
                    broken: /Error displaying widget|model not found/i.test(text(e))};
        });
    const unrun = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .filter(p => /\\[\\s*\\]/.test(p.innerText)).length;
    return {stderr, widgets, unrun, cells: document.querySelectorAll('.jp-Notebook .jp-Cell').length};
}"""


def _run_all(lab, rel: str, must_show: list[str]) -> dict:
    """Open notebook ``rel`` (path under the copied repo) in a fresh workspace, Run All, report."""
    page = lab["browser"].new_page()
    stem = Path(rel).stem
    start = time.monotonic()
    try:
        # a workspace of its own, reset: JupyterLab must not reopen (and start kernels for) earlier notebooks
        page.goto(f"{lab['base']}/lab/workspaces/run-{stem}/tree/{rel}?reset&token={lab['token']}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        assert page.locator(".jp-NotebookPanel").count() == 1, "another notebook was reopened"
        wait_kernel_idle(lab, 90)
        page.click(".jp-Notebook .jp-Cell >> nth=0")
        page.keyboard.press("Escape")
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
            ".some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))",
            timeout=60_000,
        )
        _wait_until_run(page, RUN_LIMIT_S)
        page.wait_for_timeout(1000)  # the last display messages
        found = page.evaluate(FINDINGS_JS)
        found["missing"] = [
            sel
            for sel in must_show
            if not page.evaluate(
                "(s) => [...document.querySelectorAll(s)].some("
                "e => e.getBoundingClientRect().height > 0 && "
                "(e.innerText.trim() || e.querySelector('svg')))",
                sel,
            )
        ]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"run-all-{stem}.png"))
    finally:
        found_seconds = time.monotonic() - start
        page.close()
        _shutdown_kernels(lab)
    found["seconds"] = round(found_seconds, 1)
    return found


def _problems(found: dict) -> list[str]:
    blank = [w for w in found["widgets"] if w["broken"] or w["height"] < 5 or not (w["text"] or w["svg"])]
    problems = [f"error/stderr box: {s!r}" for s in found["stderr"]]
    problems += [f"blank or broken widget: {w}" for w in blank]
    problems += [f"widget not visible after Run All: {sel}" for sel in found["missing"]]
    if found["unrun"]:
        problems.append(f"{found['unrun']} code cells did not run (Run All stopped at an error?)")
    return problems


def test_the_check_sees_stderr_and_a_closed_widget(lab):
    """A canary notebook with both defects: the checks below are not blind."""
    import nbformat

    canary = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(c)
            for c in (
                "import sys, ipywidgets as w\nprint('canary warning', file=sys.stderr)",
                "box = w.HTML('<span class=canary-widget>canary</span>')\nbox",
                "box.close()",
            )
        ]
    )
    canary.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(canary, lab["root"] / "canary.ipynb")
    found = _run_all(lab, "canary.ipynb", [".canary-widget"])
    problems = _problems(found)
    assert any("canary warning" in p for p in problems), problems
    assert any(".canary-widget" in p for p in problems), problems


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_run_all_shows_no_error_and_keeps_widgets_visible(lab, name):
    found = _run_all(lab, f"notebooks/{name}", MUST_SHOW.get(name, []))
    problems = _problems(found)
    _RESULTS[name] = {"seconds": found["seconds"], "problems": problems}
    print(f"{name}: Run All in {found['seconds']:.0f} s")
    assert not problems, f"{name} after Run All:\n" + "\n".join(problems)
