"""The pieces of the image build that run without podman: variant pins, size budget, health check."""

import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCKER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pins, image_report = _load("pins"), _load("image_report")


def test_cpu_pins_swap_the_cuda_stack_for_cpu_torch_and_keep_nvml():
    lock = (ROOT / "requirements.lock").read_text()
    cpu = pins.constraints(lock, "cpu")
    names = {pins._name(line) for line in cpu}
    assert "torch" in names and f"torch=={pins.CPU_TORCH}" in cpu and "torch==2.14.1" not in cpu
    assert not names & {"torchvision", "triton", "nvidia-cublas", "nvidia-nccl-cu13", "cuda-toolkit"}
    assert "nvidia-ml-py" in names  # the dashboard's NVML binding is not a CUDA library
    # everything else is pinned exactly as the lock pins it
    lock_lines = {line for line in lock.splitlines() if line and not line.startswith("#")}
    assert set(cpu) - {f"torch=={pins.CPU_TORCH}"} <= lock_lines
    assert len(lock_lines - set(cpu)) == sum(pins.cuda_only(line) for line in lock_lines)


def test_gpu_pins_are_the_lock_and_pyproject_unchanged():
    lock = (ROOT / "requirements.lock").read_text()
    assert pins.constraints(lock, "gpu") == [line for line in lock.splitlines() if line and not line.startswith("#")]
    reqs = pins.requirements((ROOT / "pyproject.toml").read_text(), "gpu")
    assert "torch==2.14.1" in reqs and "torchvision==0.29.1" in reqs
    cpu = pins.requirements((ROOT / "pyproject.toml").read_text(), "cpu")
    assert f"torch=={pins.CPU_TORCH}" in cpu and not any(r.startswith("torchvision") for r in cpu)


def test_pins_cli_writes_both_files(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(DOCKER / "pins.py"), "cpu", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "constraints.txt").read_text().endswith(f"torch=={pins.CPU_TORCH}\n")
    assert (
        subprocess.run(
            [sys.executable, str(DOCKER / "pins.py"), "tpu", str(tmp_path)], capture_output=True, timeout=60
        ).returncode
        == 2
    )


def test_budget_check_says_what_to_do():
    assert image_report.over_budget(1600, 2500) is None
    message = image_report.over_budget(2600, 2500)
    assert "2600 MB" in message and "podman history" in message


def test_the_recorded_images_are_within_their_budgets():
    recorded = json.loads((ROOT / "docs" / "results" / "images.json").read_text())
    assert "cpu" in recorded
    for variant, record in recorded.items():
        assert record["workshop"]["size_mb"] <= record["budget_mb"], variant


class _Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/custom/base/api"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(json.dumps({"version": "9.9"} if ok else {}).encode())

    def log_message(self, *args):
        pass


def test_healthcheck_finds_the_server_url_in_its_runtime_file(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        runtime = tmp_path / "runtime"
        runtime.mkdir()
        # a stale file of a dead server, and the live one with a base_url on a port no variable names
        (runtime / "jpserver-999999.json").write_text(json.dumps({"pid": 999999, "port": 1, "base_url": "/"}))
        (runtime / "jpserver-1.json").write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "port": port,
                    "secure": False,
                    "base_url": "/custom/base/",
                    "url": f"http://container-hostname:{port}/custom/base/",
                }
            )
        )
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_PORT="1")
        proc = subprocess.run(
            [sys.executable, "-I", "-S", str(DOCKER / "healthcheck.py")],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        assert f"127.0.0.1:{port}/custom/base/" in proc.stdout
    finally:
        server.shutdown()


@pytest.mark.parametrize("script", ["build.sh"])
def test_build_script_is_valid_bash(script):
    assert subprocess.run(["bash", "-n", str(DOCKER / script)], capture_output=True, timeout=30).returncode == 0
