"""Every bad input to the real CLI (`python -m course_utils ...`, a subprocess) gets one clear
line on stderr and exit code 2: no traceback, no hang, no silent acceptance. SIGINT and SIGTERM
end the long-running commands within a second."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, env=None, timeout=30, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "course_utils", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture
def paths(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder\n")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    return {
        "DIR": str(tmp_path),
        "UNDER_FILE": str(a_file / "log.csv"),
        "OTHER_HEADER": str(other),
        "PROC": "/proc/course-test.csv",
    }


# (arguments, environment, words the one line must contain); DIR etc. are filled in from `paths`
CASES = {
    "interval nan": (["monitor", "--simulate", "1", "--interval", "nan"], {}, ["--interval", "'nan'", "0.01"]),
    "interval inf": (["monitor", "--simulate", "1", "--interval", "inf"], {}, ["--interval", "'inf'"]),
    "interval 1e-9": (["monitor", "--simulate", "1", "--interval", "1e-9"], {}, ["--interval", "'1e-9'"]),
    "duration nan": (["monitor", "--simulate", "1", "--duration", "nan"], {}, ["--duration", "'nan'", "Ctrl-C"]),
    "csv is a folder": (
        ["monitor", "--simulate", "1", "--duration", "1", "--csv", "DIR"],
        {},
        ["--csv", "is a folder", "file name"],
    ),
    "csv under a file": (
        ["monitor", "--simulate", "1", "--duration", "1", "--csv", "UNDER_FILE"],
        {},
        ["--csv", "is a file, not a folder"],
    ),
    # root may write almost anywhere, but not create a file in /proc
    "csv not writable": (
        ["monitor", "--simulate", "1", "--duration", "1", "--csv", "PROC"],
        {},
        ["--csv", "cannot write there"],
    ),
    "csv with other header": (
        ["monitor", "--simulate", "1", "--duration", "1", "--csv", "OTHER_HEADER"],
        {},
        ["--csv", "other columns", "Nothing was changed"],
    ),
    "bench gpus -1": (["bench", "telemetry", "--gpus", "-1"], {}, ["--gpus", "'-1'", "at least 1"]),
    "bench simulate 99": (["bench", "telemetry", "--simulate", "99"], {}, ["--simulate", "'99'", "1 to 8"]),
    "bench simulate 0": (["bench", "telemetry", "--simulate", "0"], {}, ["--simulate", "'0'", "1 to 8"]),
    "bench json-out folder": (
        ["bench", "telemetry", "--simulate", "1", "--json-out", "DIR"],
        {},
        ["--json-out", "is a folder"],
    ),
    "mode bogus": (
        ["monitor", "--duration", "1"],
        {"COURSE_GPU_MODE": "bogus"},
        ["COURSE_GPU_MODE='bogus'", "auto, real, simulated, cpu"],
    ),
    "simulated gpus abc": (
        ["monitor", "--duration", "1"],
        {"COURSE_GPU_MODE": "simulated", "COURSE_SIMULATED_GPUS": "abc"},
        ["COURSE_SIMULATED_GPUS='abc'", "1 to 8"],
    ),
    "simulated gpus 0": (
        ["monitor", "--duration", "1"],
        {"COURSE_GPU_MODE": "simulated", "COURSE_SIMULATED_GPUS": "0"},
        ["COURSE_SIMULATED_GPUS='0'", "1 to 8"],
    ),
    "simulated gpus 100": (
        ["monitor", "--duration", "1"],
        {"COURSE_GPU_MODE": "simulated", "COURSE_SIMULATED_GPUS": "100"},
        ["COURSE_SIMULATED_GPUS='100'", "1 to 8"],
    ),
    # a typo is reported even where the variable would not be read (auto mode here)
    "simulated gpus 100, auto mode": (
        ["monitor", "--duration", "1"],
        {"COURSE_SIMULATED_GPUS": "100"},
        ["COURSE_SIMULATED_GPUS='100'"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_line_and_exit_code_2(case, paths):
    args, env, words = CASES[case]
    result = cli(*[paths.get(a, a) for a in args], env=env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("python -m course_utils") and "error:" in lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""  # nothing ran


def test_the_other_header_log_is_left_as_it_was(paths):
    before = Path(paths["OTHER_HEADER"]).read_bytes()
    cli("monitor", "--simulate", "1", "--duration", "1", "--csv", paths["OTHER_HEADER"])
    assert Path(paths["OTHER_HEADER"]).read_bytes() == before


def test_good_input_still_runs(tmp_path):
    log = tmp_path / "gpu.csv"
    result = cli("monitor", "--simulate", "1", "--interval", "0.2", "--duration", "0.7", "--csv", str(log))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "stopped after" in result.stdout and log.read_text().startswith("timestamp,")


def _sigterm_is_caught(pid: int) -> bool:
    """The process has installed its SIGTERM handler (Linux: SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def _start(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "course_utils", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _stop_within_a_second(proc, sig):
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
    return time.monotonic() - sent, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_monitor_at_once_with_its_summary(sig, tmp_path):
    # a long interval: the signal must end the wait, not the next tick
    proc = _start("monitor", "--simulate", "1", "--interval", "30", "--csv", str(tmp_path / "gpu.csv"))
    first = proc.stdout.readline()  # the first table: the loop is running
    assert "SIMULATED" in first, first + proc.stderr.read()
    seconds, out, err = _stop_within_a_second(proc, sig)
    assert proc.returncode == 0 and err == "", err
    assert f"({sig.name})" in out and "stopped after" in out
    assert seconds < 1.0, f"{sig.name} took {seconds:.2f} s"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_benchmark_at_once_with_one_line(sig, tmp_path):
    out_file = tmp_path / "bench.json"
    proc = _start("bench", "telemetry", "--simulate", "1", "--json-out", str(out_file))
    deadline = time.monotonic() + 30
    while not _sigterm_is_caught(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    time.sleep(0.3)  # into the measurement
    seconds, _, err = _stop_within_a_second(proc, sig)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert err.strip().splitlines() == [
        f"python -m course_utils bench telemetry: stopped by {sig.name}; nothing more was written"
    ]
    assert not out_file.exists()
    assert seconds < 1.0, f"{sig.name} took {seconds:.2f} s"
