"""Headless Chromium and a throw-away JupyterLab, shared by the browser tests.

Chromium is the Debian package (``apt-get install -y chromium``, done by ``make browser-deps``),
driven by Playwright's Python API; ``playwright install`` is never used. JupyterLab runs from
this environment on a free localhost port with a random token, and with its own config, data,
runtime, settings and workspace directories, so nothing of the user's is read or touched.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.localhost import DIRECT, free_port, http_status

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_NEWS = {"apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False}}


def require_chromium() -> None:
    """Skip the calling test or fixture, saying how to install what is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: `apt-get install -y chromium` (Debian) to run the browser tests")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed: pip install -e '.[dev]'")


@contextmanager
def chromium(profile: Path | None = None, *, width: int = 1400, height: int = 1000) -> Iterator:
    """A Playwright browser context in headless Chromium, closed on exit.

    With ``profile``, a persistent context on that (fresh) profile directory, as a learner's
    browser has; without, an in-memory one."""
    from playwright.sync_api import sync_playwright

    viewport = {"width": width, "height": height}
    with sync_playwright() as pw:
        if profile is not None:
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=viewport
            )
            try:
                yield context
            finally:
                context.close()
        else:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser.new_context(viewport=viewport)
            finally:
                browser.close()


@contextmanager
def jupyterlab(
    tmp: Path,
    root: Path,
    *,
    pythonpath: Path,
    settings: Mapping[str, dict] = NO_NEWS,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 60.0,
) -> Iterator[dict]:
    """A JupyterLab serving ``root``, its private directories under ``tmp/home``, its log in ``tmp/lab.log``.

    ``settings``: JupyterLab user settings, by path under ``@jupyterlab/``. Yields the base URL,
    token, log path and root; stops the server (and closes the log) on exit."""
    home = tmp / "home"
    for rel, content in settings.items():
        path = home / "settings" / "@jupyterlab" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    port, token = free_port(), secrets.token_urlsafe(24)
    full_env = dict(os.environ)
    full_env.update(
        {
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}",
            "PYTHONPATH": str(pythonpath),
            **(env or {}),
        }
    )
    log_path = tmp / "lab.log"
    log = open(log_path, "w")  # closed in the finally below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while http_status(f"{base}/api/status?token={token}") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.3)
        yield {"base": base, "token": token, "log": log_path, "root": root}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def kernels(lab: Mapping[str, str]) -> list[dict] | None:
    """The server's kernels (``GET /api/kernels``), or None when it does not answer."""
    try:
        with DIRECT.open(f"{lab['base']}/api/kernels?token={lab['token']}", timeout=10) as response:
            return json.load(response)
    except OSError:  # not answering (yet)
        return None


def wait_kernel_idle(lab: Mapping[str, str], timeout: float = 60.0, where: str = "") -> None:
    """The notebook's kernel has started and is idle (asked through the REST API)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = kernels(lab)
        if found and all(k["execution_state"] == "idle" for k in found):
            return
        time.sleep(0.3)
    raise AssertionError(f"the notebook's kernel did not start{where} in {timeout:.0f} s")
