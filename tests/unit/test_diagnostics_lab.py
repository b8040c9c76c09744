"""The break-and-fix lab: each broken scenario fails the doctor the way a real container would."""

import pytest

from course_utils.diagnostics.doctor import FAIL, INFO, Context, check_cuda_visible_devices
from course_utils.diagnostics.lab import LAB_STEPS, Scenario, diagnose, lab_report, step
from course_utils.telemetry import mode_banner


def failed(scenario):
    return {c.name for c in diagnose(scenario) if c.status == FAIL}


def test_a_healthy_container_passes_everything():
    assert failed(Scenario()) == set()
    assert "SIMULATED" in lab_report(Scenario())


@pytest.mark.parametrize(
    "number, expected",
    [
        (1, {"NVIDIA driver and NVML", "NVIDIA_* variables", "/dev/nvidia* device files"}),
        (2, {"NVIDIA driver and NVML", "NVIDIA_* variables"}),
        (3, {"CUDA_VISIBLE_DEVICES", "PyTorch sees CUDA"}),
        (4, {"NVIDIA driver and NVML", "/dev/nvidia* device files"}),
        (5, {"PyTorch sees CUDA", "Driver vs CUDA runtime"}),
    ],
)
def test_each_step_fails_where_a_real_container_would(number, expected):
    assert failed(LAB_STEPS[number]) == expected


def test_arguments_are_read_with_dockers_rules():
    assert Scenario(docker_args=("--gpus", "2")).container_env()["NVIDIA_VISIBLE_DEVICES"] == "0,1"
    assert Scenario(docker_args=("--gpus=0",)).container_env()["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert Scenario(docker_args=("-e", "A=1")).container_env() == {"A": "1"}
    assert failed(Scenario(docker_args=("--gpus", "all,capabilities=compute,utility"))) == {"docker run arguments"}
    for bad in (("--gpus",), ("-e", "A"), ("--privileged",)):
        with pytest.raises(ValueError):
            Scenario(docker_args=bad).container_env()
    with pytest.raises(ValueError, match="no lab step 9"):
        step(9)


def test_cuda_visible_devices_check():
    gpus = [{"index": 0}, {"index": 1}]
    for value in ("", "-1", "void"):
        ctx = Context(env={"CUDA_VISIBLE_DEVICES": value}, facts={"gpus": gpus})
        assert check_cuda_visible_devices(ctx).status == FAIL
        assert check_cuda_visible_devices(Context(env={"CUDA_VISIBLE_DEVICES": value})).status == INFO
    assert check_cuda_visible_devices(Context(env={"CUDA_VISIBLE_DEVICES": "1"}, facts={"gpus": gpus})).status == INFO
    assert check_cuda_visible_devices(Context(env={})).status == INFO


def test_the_mode_banner_agrees_with_simulated_readings():
    cpu = mode_banner("cpu", "no usable NVIDIA GPU (library_not_found)")
    assert cpu.startswith("Course mode: CPU ONLY") and "SIMULATED" in cpu
    assert mode_banner("real", "2 GPU(s)").startswith("Course mode: REAL GPU")
    with pytest.raises(ValueError):
        mode_banner("gpu", "")


def test_the_doctor_report_prints_the_driver_paragraph_once(monkeypatch):
    from course_utils.diagnostics import doctor
    from course_utils.telemetry import course_mode

    monkeypatch.setenv("COURSE_GPU_MODE", "auto")
    results = doctor.run_checks(Context(skip_frameworks=True))
    report = doctor.format_report(results, course_mode())
    nvml = next(c for c in results if c.name == "NVIDIA driver and NVML")
    if nvml.status == FAIL:  # the CPU machine: the paragraph and its fix appear once
        assert report.count(nvml.detail) == 1 and report.count(nvml.fix) == 1
