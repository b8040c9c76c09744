"""docker/entrypoint.sh and docker/healthcheck.py, run here as the image runs them (no Docker needed)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def course(tmp_path):
    """A course folder as the image lays it out, with a private Jupyter home."""
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "notebooks" / "00_welcome.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE_"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        HOME=str(tmp_path / "home"),
        COURSE_DIR=str(root),
        COURSE_TF_PYTHON=str(tmp_path / "no-tf-env" / "python"),
        COURSE_DOCTOR="quick",
        JUPYTER_CONFIG_DIR=str(tmp_path / "jcfg"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jrun"),
        PYTHONPATH=str(ROOT),
    )
    (tmp_path / "home").mkdir()
    return root, env


def run(args, env, timeout=120):
    return subprocess.run(["bash", str(ENTRYPOINT), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_help_lists_the_modes(course):
    _, env = course
    out = run(["help"], env).stdout
    for mode in ("lab", "doctor", "selftest", "grade"):
        assert re.search(rf"^\s*{mode}\b", out, re.MULTILINE), out


def test_doctor_mode_runs_the_doctor_in_each_environment(course, tmp_path):
    _, env = course
    env["COURSE_TF_PYTHON"] = sys.executable  # stands in for the image's TensorFlow environment
    proc = run(["doctor", "--no-frameworks"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("GPU doctor\n==========") == 2
    assert "PyTorch environment" in proc.stdout and "TensorFlow environment" in proc.stdout


def test_selftest_calls_the_gpu_validation_script_with_its_arguments_and_status(course):
    root, env = course
    (root / "scripts" / "gpu_validate.sh").write_text('echo "validate in $PWD with: $*"; exit 7\n')
    proc = run(["selftest", "--quick", "x y"], env)
    assert proc.returncode == 7
    assert proc.stdout.strip() == f"validate in {root} with: --quick x y"


def test_selftest_without_the_script_says_so(course):
    _, env = course
    proc = run(["selftest"], env)
    assert proc.returncode == 2 and "gpu_validate.sh is missing" in proc.stderr


def fake_grader(env: dict, tmp_path: Path, code: str) -> None:
    """A `course-grade` on PATH that runs ``code`` (the entrypoint's GRADE_CMD)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    grader = bin_dir / "course-grade"
    grader.write_text(f"#!{sys.executable}\n{code}")
    grader.chmod(0o755)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"


def test_grade_runs_the_grading_command_only_where_the_grading_files_are(course, tmp_path):
    root, env = course
    proc = run(["grade", "--help"], env)
    assert proc.returncode == 2 and "grading image" in proc.stderr
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    (root / "solutions").mkdir()
    fake_grader(env, tmp_path, "import os, sys\nprint('grading', os.getcwd(), sys.argv[1:])\nsys.exit(3)\n")
    proc = run(["grade", "--assignment", "a1"], env)
    assert proc.returncode == 3
    assert proc.stdout.strip() == f"grading {root} ['--assignment', 'a1']"


def test_grade_makes_the_state_folders_in_the_mounted_folder_or_says_it_cannot(course, tmp_path):
    root, env = course
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    (root / "solutions").mkdir()
    fake_grader(env, tmp_path, "print('graded')\n")
    env["COURSE_GRADING_STATE"] = str(tmp_path / "state")
    proc = run(["grade"], env)
    assert proc.returncode == 0 and proc.stdout.strip() == "graded", proc.stderr
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["autograded", "feedback", "reports", "submitted"]
    env["COURSE_GRADING_STATE"] = "/proc/no-such-state"
    proc = run(["grade"], env)
    assert proc.returncode == 2 and "is not writable" in proc.stderr


def test_other_commands_run_as_given(course):
    _, env = course
    proc = run(["echo", "hello", "world"], env)
    assert proc.returncode == 0 and proc.stdout == "hello world\n"


@pytest.mark.parametrize(
    ("env_update", "message"),
    [
        ({"JUPYTER_TOKEN": ""}, "would switch authentication off"),
        ({"JUPYTER_PORT": "eighty"}, "not a port number"),
        ({"JUPYTER_PORT": "70000"}, "not a port number"),
        ({"COURSE_DOCTOR": "sometimes"}, "not one of full, quick, off"),
    ],
)
def test_lab_refuses_unsafe_or_wrong_settings(course, env_update, message):
    _, env = course
    env.update(env_update)
    proc = run(["lab"], env, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr


def test_healthcheck_reports_unhealthy_when_nothing_listens(tmp_path):
    # an empty runtime folder: a Jupyter server of this machine's user must not answer for it
    env = dict(os.environ, JUPYTER_PORT=str(free_port()), JUPYTER_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, str(HEALTHCHECK)], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 1 and "unhealthy" in proc.stderr


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_lab_starts_jupyterlab_with_token_auth_and_prints_the_url(course):
    _, env = course
    port = free_port()
    env.update(JUPYTER_PORT=str(port), COURSE_PUBLIC_URL="http://gpu-node-7:9000/")
    # Jupyter refuses to run as root unless told; the image runs as the learner, this machine may not.
    args = ["lab", "--allow-root"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(
        ["bash", str(ENTRYPOINT), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        url, lines, deadline = None, [], time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
            match = re.search(r"(http://gpu-node-7:9000/lab/tree/notebooks/00_welcome\.ipynb\?token=(\w+))", line)
            url = match and match.group(2)
        assert url, "no URL printed:\n" + "".join(lines)
        token = url
        assert re.fullmatch(r"[0-9a-f]{48}", token)
        assert "GPU doctor" in "".join(lines)  # the doctor ran before the lab
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            health = subprocess.run(
                [sys.executable, str(HEALTHCHECK)], capture_output=True, text=True, env=env, timeout=30
            )
            if health.returncode == 0:
                break
            time.sleep(0.5)
        assert health is not None and health.returncode == 0, (health and health.stderr, proc.poll())
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/api/contents/notebooks") == 403  # no token, no access
        assert _get(f"{base}/api/contents/notebooks?token=wrong{token}") == 403
        assert _get(f"{base}/api/contents/notebooks?token={token}") == 200
        assert token not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    finally:
        proc.send_signal(signal.SIGTERM)  # exec'd: the signal reaches jupyter itself
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None
