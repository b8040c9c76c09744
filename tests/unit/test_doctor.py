import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.fake_nvml import ERR, FakeNvml

from course_utils.diagnostics import check_compute_capability, check_runtime_on_driver
from course_utils.diagnostics.doctor import FAIL, PASS, SKIP, WARN, Context, run_checks

TORCH_OK = {
    "installed": True,
    "version": "2.11.0+cu130",
    "cuda_runtime": "13.0",
    "available": True,
    "device_count": 2,
    "devices": [{"name": "NVIDIA H200", "capability": [9, 0]}] * 2,
}
TF_CPU = {"installed": True, "version": "2.21.0", "built_with_cuda": False, "cuda_runtime": None, "gpus": []}


def fake_probe(torch=TORCH_OK, tf=TF_CPU):
    def probe(code):
        return dict(torch if "import torch" in code else tf)

    return probe


def make_root(tmp_path, dev=(), dockerenv=False, cgroup=""):
    (tmp_path / "dev").mkdir()
    for name in dev:
        (tmp_path / "dev" / name).touch()
    if dockerenv:
        (tmp_path / ".dockerenv").touch()
    (tmp_path / "proc/1").mkdir(parents=True)
    (tmp_path / "proc/1/cgroup").write_text(cgroup)
    return tmp_path


def by_name(results):
    return {c.name: c for c in results}


def test_healthy_gpu_container(tmp_path):
    root = make_root(tmp_path, dev=("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"), dockerenv=True)
    ctx = Context(
        env={"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"},
        root=root,
        nvml_loader=lambda: FakeNvml(n_gpus=2),
        probe=fake_probe(),
        which=lambda exe: None,
    )
    checks = by_name(run_checks(ctx))
    assert checks["NVIDIA driver and NVML"].status == PASS
    assert "580.159.04" in checks["NVIDIA driver and NVML"].detail
    assert checks["GPUs visible to NVML"].data["count"] == 2
    assert checks["NVIDIA_* variables"].status == PASS
    assert checks["/dev/nvidia* device files"].status == PASS
    assert checks["PyTorch sees CUDA"].status == PASS
    assert checks["Driver vs CUDA runtime"].status == PASS
    assert checks["nvidia-smi"].status == FAIL  # GPUs present but no nvidia-smi: utility capability missing
    assert "utility" in checks["nvidia-smi"].fix


@pytest.mark.parametrize(
    "code", [ERR.LIBRARY_NOT_FOUND, ERR.DRIVER_NOT_LOADED, ERR.NO_PERMISSION, ERR.LIB_RM_VERSION_MISMATCH, ERR.UNKNOWN]
)
def test_every_nvml_failure_fails_with_a_fix(tmp_path, code):
    ctx = Context(
        env={},
        root=make_root(tmp_path),
        nvml_loader=lambda: FakeNvml(init_error=code),
        probe=fake_probe(),
        which=lambda exe: None,
    )
    check = by_name(run_checks(ctx))["NVIDIA driver and NVML"]
    assert check.status == FAIL and check.fix


def test_container_without_gpus_is_explained(tmp_path):
    root = make_root(tmp_path, cgroup="0::/system.slice/docker-abc.scope")
    ctx = Context(
        env={"NVIDIA_VISIBLE_DEVICES": "void"},
        root=root,
        nvml_loader=lambda: FakeNvml(init_error=ERR.LIBRARY_NOT_FOUND),
        probe=fake_probe(),
        which=lambda exe: None,
    )
    checks = by_name(run_checks(ctx))
    assert "docker" in checks["Running in a container"].detail
    assert checks["NVIDIA_* variables"].status == FAIL
    assert "--gpus all" in checks["NVIDIA_* variables"].fix
    assert checks["/dev/nvidia* device files"].status == FAIL


def test_missing_capability_and_missing_uvm(tmp_path):
    root = make_root(tmp_path, dev=("nvidia0", "nvidiactl"), dockerenv=True)
    ctx = Context(
        env={"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "utility"},
        root=root,
        nvml_loader=lambda: FakeNvml(n_gpus=1),
        probe=fake_probe(),
        which=lambda exe: None,
    )
    checks = by_name(run_checks(ctx))
    assert checks["NVIDIA_* variables"].status == FAIL and "compute" in checks["NVIDIA_* variables"].detail
    assert checks["/dev/nvidia* device files"].status == FAIL
    assert "nvidia-uvm" in checks["/dev/nvidia* device files"].detail


def test_outside_a_container_the_variables_do_not_matter(tmp_path):
    ctx = Context(
        env={},
        root=make_root(tmp_path),
        nvml_loader=lambda: FakeNvml(init_error=ERR.LIBRARY_NOT_FOUND),
        probe=fake_probe(),
        which=lambda exe: None,
    )
    assert by_name(run_checks(ctx))["NVIDIA_* variables"].status == SKIP


def test_old_driver_for_torch_cuda_13_fails_with_fix(tmp_path):
    class OldDriver(FakeNvml):
        def nvmlSystemGetDriverVersion(self):
            return "535.104.05"

        def nvmlSystemGetCudaDriverVersion(self):
            return 12020

    root = make_root(tmp_path, dev=("nvidia0", "nvidiactl", "nvidia-uvm"))
    torch_info = {**TORCH_OK, "available": False, "error": "driver too old", "devices": []}
    ctx = Context(
        env={},
        root=root,
        nvml_loader=lambda: OldDriver(n_gpus=1),
        probe=fake_probe(torch=torch_info),
        which=lambda exe: None,
    )
    checks = by_name(run_checks(ctx))
    assert checks["PyTorch sees CUDA"].status == FAIL
    compat = checks["Driver vs CUDA runtime"]
    assert compat.status == FAIL and "12.2" in compat.detail and "cu12" in compat.fix


def test_a_crashing_check_is_reported_not_raised(tmp_path):
    def broken_probe(code):
        raise OSError("no python")

    ctx = Context(
        env={},
        root=make_root(tmp_path),
        nvml_loader=lambda: FakeNvml(n_gpus=1),
        probe=broken_probe,
        which=lambda exe: None,
    )
    results = run_checks(ctx)
    crashed = [c for c in results if "the check itself failed" in c.detail]
    assert crashed and all(c.status == FAIL for c in crashed)


def test_deprecated_pynvml_package_is_flagged(monkeypatch):
    import importlib.metadata as md

    import course_utils.diagnostics.doctor as doctor_module

    real = md.distribution

    def fake_distribution(name):
        if name == "pynvml":
            return object()
        return real(name)

    monkeypatch.setattr(md, "distribution", fake_distribution)
    check = doctor_module.check_binding(Context())
    assert check.status == WARN and "pip uninstall pynvml" in check.fix


@pytest.mark.parametrize(
    ("runtime", "driver", "driver_cuda", "ok"),
    [
        ("13.0", "580.159.04", "13.0", True),
        ("13.0", "575.57.08", "12.9", False),
        ("12.8", "525.60.13", "12.0", True),  # minor version compatibility
        ("12.8", "520.61.05", "11.8", False),
        ("11.8", "450.80.02", "11.0", True),
        ("12.4", "470.82.01", None, False),
    ],
)
def test_runtime_on_driver(runtime, driver, driver_cuda, ok):
    result = check_runtime_on_driver(runtime, driver, driver_cuda)
    assert result.ok is ok
    if not ok:
        assert result.fix


def test_compute_capability():
    assert check_compute_capability("13.0", (9, 0)).ok
    assert not check_compute_capability("13.0", (7, 0)).ok  # Volta dropped in CUDA 13
    assert check_compute_capability("12.8", (7, 0)).ok


def test_doctor_cli_json_runs_and_exits_zero_without_gpu():
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils", "doctor", "--json", "--no-frameworks"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    names = [c["name"] for c in report["checks"]]
    assert "NVIDIA driver and NVML" in names and "Driver vs CUDA runtime" in names
    assert report["mode"] in ("real", "simulated", "cpu")
    assert all(c["status"] in ("pass", "fail", "warn", "skip", "info") for c in report["checks"])


def test_monitor_cli_logs_csv_for_a_duration(tmp_path):
    out = tmp_path / "log.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_utils",
            "monitor",
            "--simulate",
            "3",
            "--interval",
            "0.1",
            "--duration",
            "1",
            "--csv",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "SIMULATED" in proc.stdout and "stopped after" in proc.stdout
    from course_utils.telemetry import read_metrics_csv

    log = read_metrics_csv(out)
    assert log.gpus() == [0, 1, 2] and len(log.rows) >= 15 and not log.bad_lines


def test_monitor_cli_stops_cleanly_on_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "course_utils", "monitor", "--simulate", "1", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped after" in stdout


def test_monitor_without_gpu_explains_and_exits_zero():
    env = {**os.environ, "COURSE_GPU_MODE": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils", "monitor", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0 and "No GPU to monitor" in proc.stdout and "--simulate" in proc.stdout


def test_cli_rejects_bad_arguments_with_usage():
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils", "monitor", "--interval", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--interval" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow  # 8 s: the sampler's CPU is measured over 3 + 3 + 2 s
def test_bench_telemetry_quick_on_simulated_backend(tmp_path):
    out = tmp_path / "t.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_utils",
            "bench",
            "telemetry",
            "--simulate",
            "2",
            "--quick",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(Path(out).read_text())
    assert result["backend"] == "simulated" and result["gpus"] == 2
    assert result["snapshot_us_ours"] > 0 and result["snapshot_us_raw_nvml"] is None
    assert {"sampler_cpu_pct_1hz", "sampler_cpu_pct_10hz", "sampler_cpu_pct_100hz", "date"} <= result.keys()


@pytest.mark.parametrize("what", ["dashboard", "multi-gpu"])
def test_bench_subcommands_pass_their_options_through(what):
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils", "bench", what, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and ("--json-out" in proc.stdout or "--out" in proc.stdout)
