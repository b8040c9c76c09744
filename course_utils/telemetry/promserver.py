"""A private Prometheus server on localhost, and PromQL queries from Python.

The tests and the monitoring notebook use the real Prometheus binary (Debian's
``prometheus`` package, 2.42) the way a cluster does: a config file with scrape
jobs, a storage folder, the HTTP API. :class:`LocalPrometheus` starts one on a
free loopback port with a temporary config and storage, and removes both when
stopped; nothing is installed or changed on the host.

>>> with LocalPrometheus({"course-gpus": [exporter.url]}, scrape_interval_s=1) as prom:
...     prom.wait_for("DCGM_FI_DEV_GPU_UTIL")
...     prom.query("avg by (gpu) (DCGM_FI_DEV_GPU_UTIL)")
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

PROMETHEUS_URL_ENV = "PROMETHEUS_URL"


class PromQLError(RuntimeError):
    """Prometheus answered a query with an error (bad PromQL, or no server)."""


def find_prometheus() -> str | None:
    """The ``prometheus`` binary on PATH (Debian installs it as /usr/bin/prometheus)."""
    return shutil.which("prometheus")


def query(base_url: str, promql: str, at: float | None = None, timeout: float = 10.0) -> list[dict]:
    """Run an instant PromQL query; the ``result`` list of the HTTP API's answer."""
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    return _api(base_url, "query", params, timeout)["result"]


def query_range(base_url: str, promql: str, start: float, end: float, step: float, timeout: float = 10.0) -> list[dict]:
    """Run a range query (what a Grafana time-series panel sends)."""
    params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    return _api(base_url, "query_range", params, timeout)["result"]


def _api(base_url: str, endpoint: str, params: dict, timeout: float) -> dict:
    url = f"{base_url.rstrip('/')}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:  # 400/422: Prometheus explains in the JSON body
        try:
            body = json.load(exc)
        except ValueError:
            raise PromQLError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PromQLError(
            f"no Prometheus answers at {base_url} ({exc}); start one, or set {PROMETHEUS_URL_ENV} to its address"
        ) from exc
    if body.get("status") != "success":
        raise PromQLError(f"{params.get('query')!r}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def reachable(base_url: str, timeout: float = 1.0) -> bool:
    """Whether a Prometheus server answers at ``base_url`` (its readiness endpoint)."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/-/ready", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # Linux: the server gets SIGTERM when the thread that started it ends (in practice the
    # main thread of a test run or a kernel), so a killed run leaves no Prometheus behind.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def scrape_config(jobs: dict[str, list[str]], scrape_interval_s: float) -> str:
    """prometheus.yml for ``{job_name: [exporter URL, ...]}`` (JSON is valid YAML)."""
    scrape_configs = []
    for job, urls in jobs.items():
        parsed = [urllib.parse.urlsplit(u if "//" in u else f"http://{u}") for u in urls]
        paths = {p.path or "/metrics" for p in parsed}
        if len(paths) != 1:
            raise ValueError(f"job {job!r}: all targets of one job must share a metrics path, got {paths}")
        scrape_configs.append(
            {"job_name": job, "metrics_path": paths.pop(), "static_configs": [{"targets": [p.netloc for p in parsed]}]}
        )
    interval = f"{int(scrape_interval_s * 1000)}ms"
    return json.dumps(
        {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": scrape_configs},
        indent=2,
    )


class LocalPrometheus:
    """Debian's Prometheus on ``127.0.0.1:<free port>``, scraping ``jobs``."""

    _log: BinaryIO | None = None  # the server's log file, open while it runs

    def __init__(self, jobs: dict[str, list[str]], scrape_interval_s: float = 1.0, binary: str | None = None):
        found = binary or find_prometheus()
        if found is None:
            raise FileNotFoundError(
                "the prometheus binary is not installed. On Debian/Ubuntu (as root, not from a course "
                "cell): apt-get install prometheus; `make prometheus-deps` does it for the tests."
            )
        self.binary: str = found
        self.jobs = jobs
        self.scrape_interval_s = scrape_interval_s
        self.port: int | None = None
        self.workdir: Path | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LocalPrometheus:
        self.workdir = Path(tempfile.mkdtemp(prefix="course-prometheus-"))
        (self.workdir / "prometheus.yml").write_text(scrape_config(self.jobs, self.scrape_interval_s))
        self.port = _free_port()
        log = self._log = open(self.workdir / "prometheus.log", "wb")  # closed in stop()
        self._proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=2h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                log_text = self.log_tail()
                self.stop()
                raise RuntimeError(f"prometheus exited with code {code}:\n{log_text}")
            if reachable(self.url, timeout=0.5):
                return self
            time.sleep(0.1)
        log_text = self.log_tail()
        self.stop()
        raise TimeoutError(f"prometheus did not become ready within {timeout} s:\n{log_text}")

    def log_tail(self, chars: int = 2000) -> str:
        path = self.workdir / "prometheus.log" if self.workdir else None
        return path.read_text(errors="replace")[-chars:] if path and path.exists() else ""

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        return query(self.url, promql, at)

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        return query_range(self.url, promql, start, end, step)

    def wait_for(self, promql: str, count: int = 1, timeout: float = 20.0) -> list[dict]:
        """Query until the answer has at least ``count`` series (the first scrapes take a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if len(result) >= count:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{promql!r} returned {len(result)} series after {timeout} s, "
                    f"expected {count}; targets: {self.targets()}"
                )
            time.sleep(0.2)

    def targets(self) -> list[dict]:
        """Each scrape target's job, URL, health and last error (``/api/v1/targets``)."""
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as resp:
            active = json.load(resp)["data"]["activeTargets"]
        return [
            {"job": t["labels"].get("job"), "url": t["scrapeUrl"], "health": t["health"], "lastError": t["lastError"]}
            for t in active
        ]

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> LocalPrometheus:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):
        # a notebook cell run again drops the old object: its server and folder go with it
        try:
            if getattr(self, "_proc", None) is not None or getattr(self, "workdir", None) is not None:
                self.stop()
        except Exception:
            pass
