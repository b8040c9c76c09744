"""JupyterLab in headless Chromium shows the live dashboard on 4 simulated GPUs.

The test starts its own JupyterLab (from this environment) on a free localhost
port with a random token, in a temporary root and with temporary config, data,
runtime and settings directories, so nothing of the user's is read or touched.
Chromium is the Debian package (``apt-get install -y chromium``), driven by
Playwright's Python API with a fresh profile; ``playwright install`` is never
used. A screenshot is saved to ``test-artifacts/dashboard.png``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from support.browser import NO_NEWS, chromium, jupyterlab, require_chromium, wait_kernel_idle
from support.localhost import http_status

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

CELLS = [
    "import time\n"
    "from course_utils.telemetry import AlertRule, SimulatedBackend\n"
    "from course_utils.widgets import Dashboard, StatusLine\n"
    "# 4 simulated GPUs whose clock runs 4x the wall clock (0.5 s per sample, one sample every 0.125 s),\n"
    "# so a minute of history fills in 15 s\n"
    "gpus = SimulatedBackend(4, seed=0, step_s=0.5, start_time=time.time())\n"
    "# a low memory threshold, so an alert shows within seconds\n"
    "rules = [AlertRule('memory_used_pct', high=35.0, clear=30.0, label='memory > 35%')]\n"
    "dash = Dashboard(gpus, interval=0.125, refresh_hz=4, rules=rules, name='browser-test')\n"
    "dash",
    "status = StatusLine(dash, name='browser-status')\nstatus",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_chromium()
    tmp_path = tmp_path_factory.mktemp("lab")
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "dashboard.ipynb")
    # NO_NEWS: no "get Jupyter news?" pop-up over the screenshot
    with jupyterlab(tmp_path, root, pythonpath=ROOT, settings=NO_NEWS, env={"COURSE_GPU_MODE": "simulated"}) as info:
        yield {**info, "profile": tmp_path / "chromium-profile"}


def test_server_refuses_requests_without_the_token(lab):
    base, token = lab["base"], lab["token"]
    for path in ("/api/contents", "/api/kernels", "/api/sessions"):
        assert http_status(f"{base}{path}") == 403, path
        assert http_status(f"{base}{path}?token=wrong-{token[:8]}") == 403, path
    assert http_status(f"{base}/api/contents?token={token}") == 200


def _dashboard_state(page) -> dict:
    return page.evaluate("""() => {
        const root = document.querySelector('.course-gpu-dashboard');
        if (!root) return null;
        const paths = [...root.querySelectorAll('.cud-card svg path[stroke]')].map(p => p.getAttribute('d'));
        const table = root.querySelector('.cud-tb');  // the GPU table (the process table comes later)
        const cells = table ? [...table.querySelectorAll('tr')].map(r => r.innerText) : [];
        const box = root.getBoundingClientRect();
        return {paths, cells, cards: root.querySelectorAll('.cud-card').length,
                chips: [...root.querySelectorAll('.cud-chip')].map(c => c.innerText),
                badge: root.innerText.includes('SIMULATED'), width: box.width, height: box.height,
                status: document.body.innerText.match(/GPU3[^\\n]*/)?.[0] || ''};
    }""")


def _points(d: str | None) -> int:
    return len(re.findall(r"-?\d+", d or ""))


def test_dashboard_renders_and_updates_live(lab):
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"{lab['base']}/lab/tree/dashboard.ipynb?token={lab['token']}"
    # a fresh profile directory (Playwright passes it as --user-data-dir)
    with chromium(lab["profile"], height=1300) as browser:
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            wait_kernel_idle(lab)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
            page.click(".jp-Notebook .jp-Cell >> nth=0")
            page.keyboard.press("Escape")
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            page.wait_for_selector(".course-gpu-dashboard .cud-card svg path[stroke]", timeout=60_000)
            page.wait_for_function(
                "() => document.querySelector('.course-gpu-dashboard .cud-tb')?.querySelectorAll('tr').length >= 5",
                timeout=30_000,
            )
            first = _dashboard_state(page)
            time.sleep(3.0)  # let the 4 Hz refresh thread send new frames
            second = _dashboard_state(page)
            # for the screenshot: wait until the utilisation line of GPU 0 spans most of the minute
            page.wait_for_function(
                "() => { const p = document.querySelectorAll('.course-gpu-dashboard .cud-card svg path[stroke]')[1];"
                " return p && p.getBBox().width > 100; }",
                timeout=30_000,
            )
            page.wait_for_function(  # the first simulated job takes ~40% of memory: the alert shows
                "() => document.querySelectorAll('.course-gpu-dashboard .cud-chip').length > 0", timeout=30_000
            )
            page.wait_for_timeout(500)
            third = _dashboard_state(page)
            dash = page.query_selector(".course-gpu-dashboard")
            dash.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            dash.screenshot(path=str(ARTIFACTS / "dashboard-widget.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "dashboard-failure.png"), full_page=True)
            raise
    assert first is not None and second is not None
    assert second["cards"] == 4, second
    assert second["badge"], "the SIMULATED badge is missing"
    assert len(second["cells"]) == 5  # header + 4 GPUs
    assert second["width"] > 600 and second["height"] > 300  # laid out, not collapsed
    assert len(second["paths"]) >= 4 * 3 and all(_points(d) >= 4 for d in second["paths"])
    # updates from the kernel's refresh thread reach the browser (ipykernel 6.31)
    assert second["cells"] != first["cells"], "the GPU table did not change in 3 s"
    assert second["paths"] != first["paths"], "the charts did not change in 3 s"
    assert "GPU3" in second["status"], "the status line is missing"
    assert any("memory > 35%" in chip for chip in third["chips"]), third["chips"]
    assert not [e for e in errors if "cud" in e or "widget" in e.lower()], errors
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
