"""The workshop image (CPU variant), started as learners start it, checked from outside.

Started with the documented flags (`--init`, a port published on 127.0.0.1, a token, the course
volume). One JupyterLab container serves the module; the restart test uses its own.
"""

from __future__ import annotations

import json
import re
import secrets
import time

import nbformat
import pytest
from container_support import ARTIFACTS, Container, podman, wait_http
from support.browser import chromium, require_chromium, wait_kernel_idle
from support.localhost import DIRECT, free_port, http_status

pytestmark = [pytest.mark.container, pytest.mark.timeout(600)]

COURSE = "/home/learner/course"


@pytest.fixture(scope="module")
def lab(workshop_image, tmp_path_factory):
    port, token = free_port(), secrets.token_hex(24)
    c = Container(workshop_image)
    volume = f"course-test-work-{secrets.token_hex(4)}"
    try:
        c.run("-p", f"127.0.0.1:{port}:8888", "-v", f"{volume}:{COURSE}", env={"JUPYTER_TOKEN": token})
        logs = c.wait_for_log("JupyterLab is starting", timeout=240)
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 200, timeout=180)
        yield {"c": c, "base": f"http://127.0.0.1:{port}", "token": token, "logs": logs, "volume": volume}
    finally:
        c.remove()
        podman("volume", "rm", "-f", volume)


def test_runs_as_the_learner_under_an_init_process(lab):
    c = lab["c"]
    assert c.exec("id", "-u").stdout.strip() == "1000"
    assert c.exec("id", "-un").stdout.strip() == "learner"
    # PID 1 is the init (--init: podman mounts catatonit as podman-init, docker tini as docker-init)
    assert c.exec("cat", "/proc/1/comm").stdout.strip() in ("podman-init", "catatonit", "tini", "docker-init")
    procs = c.exec("sh", "-c", "for p in /proc/[0-9]*; do echo $(stat -c %u $p) $(tr '\\0' ' ' < $p/cmdline); done")
    jupyter = [line for line in procs.stdout.splitlines() if "jupyter" in line]
    assert jupyter and all(line.startswith("1000 ") for line in jupyter), procs.stdout


def test_the_entrypoint_ran_the_doctor_which_names_the_missing_gpu(lab):
    logs = lab["logs"]
    assert "GPU doctor" in logs
    assert "libnvidia-ml.so.1 was not found" in logs  # what is missing
    assert "--gpus all" in logs  # and what to do about it
    assert "Course mode: CPU" in logs
    assert re.search(r"/lab/tree/notebooks/00_welcome\.ipynb\?token=" + lab["token"], logs)


def test_jupyterlab_refuses_requests_without_the_token(lab):
    base, token = lab["base"], lab["token"]
    for path in ("/api/contents", "/api/kernels", "/api/sessions"):
        assert http_status(f"{base}{path}") == 403, path
    assert http_status(f"{base}/api/contents?token=wrong{token}") == 403
    assert http_status(f"{base}/api/contents?token={token}") == 200


def _server_pid(c) -> int:
    out = c.exec(
        "python",
        "-c",
        "import json, glob, os; from jupyter_core.paths import jupyter_runtime_dir; "
        "print(json.load(open(glob.glob(os.path.join(jupyter_runtime_dir(), 'jpserver-*.json'))[0]))['pid'])",
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_healthcheck_passes_and_fails_when_the_server_does_not_answer(lab):
    c = lab["c"]
    proc = podman("healthcheck", "run", c.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = _server_pid(c)
    assert c.exec("sh", "-c", f"kill -STOP {pid}").returncode == 0  # a hung server
    try:
        proc = podman("healthcheck", "run", c.name, timeout=60)
        # unhealthy: the check's own 4 s timeout; or podman's HEALTHCHECK --timeout on a slow machine
        assert proc.returncode != 0, proc.stdout + proc.stderr
        assert "unhealthy" in proc.stdout + proc.stderr or "exceeded timeout" in proc.stderr
    finally:
        c.exec("sh", "-c", f"kill -CONT {pid}")
    proc = podman("healthcheck", "run", c.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_selftest_passes_on_cpu(lab):
    proc = lab["c"].exec("course-entrypoint", "selftest", "--cpu", "--log-dir", "/tmp/selftest", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "CPU self-test" in proc.stdout
    # without --cpu it says there is no GPU to validate, and fails
    proc = lab["c"].exec("course-entrypoint", "selftest", "--list")
    assert proc.returncode == 0


def test_no_solutions_rubric_or_gradebook_in_the_workshop_image(lab):
    c = lab["c"]
    # (nbgrader's own package ships test fixtures with such names: /opt/venv/lib is not the course)
    found = c.exec(
        "sh",
        "-c",
        "find / -xdev \\( -path /proc -o -path /opt/venv/lib \\) -prune -o \\( -name solutions "
        "-o -name 'gradebook.db*' -o -name instructor.md -o -name nbgrader_config.py -o -name autograded "
        "-o -name submitted \\) -print 2>/dev/null",
    )
    assert found.stdout.strip() == "", found.stdout
    # no notebook, and nothing released to learners, holds a solution or hidden-test region (the
    # test code under tests/ names the markers as strings, so it is not searched)
    markers = "-e '### BEGIN SOLUTION' -e '### BEGIN HIDDEN TESTS'"
    hits = c.exec(
        "sh", "-c", f"grep -rl {markers} --include='*.ipynb' {COURSE}; grep -rl {markers} {COURSE}/exercises; true"
    )
    assert hits.stdout.strip() == "", hits.stdout
    assert c.exec("test", "-f", f"{COURSE}/notebooks/00_welcome.ipynb").returncode == 0  # the course is there


def _put_notebook(base: str, token: str, path: str, nb) -> None:
    import urllib.request

    body = json.dumps({"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))}).encode()
    req = urllib.request.Request(
        f"{base}/api/contents/{path}?token={token}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with DIRECT.open(req, timeout=30) as response:
        assert response.status in (200, 201)


def test_dashboard_runs_in_a_notebook_in_the_container_and_updates(lab):
    require_chromium()
    from browser.test_dashboard_browser import CELLS, _dashboard_state

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    _put_notebook(lab["base"], lab["token"], "container_dashboard.ipynb", nb)
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium(height=1300) as browser:
        page = browser.new_page()
        try:
            page.goto(f"{lab['base']}/lab/tree/container_dashboard.ipynb?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            wait_kernel_idle(lab, 180, where=" in the container")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.click(".jp-Notebook .jp-Cell >> nth=0")
            page.keyboard.press("Escape")
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            page.wait_for_selector(".course-gpu-dashboard .cud-card svg path[stroke]", timeout=120_000)
            page.wait_for_function(
                "() => document.querySelector('.course-gpu-dashboard .cud-tb')?.querySelectorAll('tr').length >= 5",
                timeout=60_000,
            )
            first = _dashboard_state(page)
            time.sleep(3.0)
            second = _dashboard_state(page)
            page.screenshot(path=str(ARTIFACTS / "container-dashboard.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "container-dashboard-failure.png"), full_page=True)
            raise
    assert second["cards"] == 4 and second["badge"], second
    assert second["cells"] != first["cells"], "the GPU table did not change in 3 s"
    assert second["paths"] != first["paths"], "the charts did not change in 3 s"


def test_an_edited_notebook_survives_a_new_container_on_the_course_volume(workshop_image, container_factory, volume):
    token = secrets.token_hex(24)
    edited = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"my answer {token[:8]}")])
    for round_ in (1, 2):
        port = free_port()
        c = container_factory(workshop_image)
        c.run(
            "-p",
            f"127.0.0.1:{port}:8888",
            "-v",
            f"{volume}:{COURSE}",
            env={"JUPYTER_TOKEN": token, "COURSE_DOCTOR": "off"},
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", 200, timeout=180)
        if round_ == 1:
            _put_notebook(base, token, "notebooks/00_welcome.ipynb", edited)
        else:
            with DIRECT.open(f"{base}/api/contents/notebooks/00_welcome.ipynb?token={token}", timeout=30) as r:
                cells = json.load(r)["content"]["cells"]
            assert cells[0]["source"] == f"my answer {token[:8]}"
        c.remove()
