"""Read-only checks from inside a container, on a real GPU (moved from tests/unit/test_containers_inside.py)."""

import pytest

from course_utils.containers.inside import device_nodes, mig_status


def _real_gpu() -> bool:
    from course_utils.telemetry import open_backend

    backend = open_backend(mode="real")
    try:
        return backend.kind == "nvml"
    finally:
        backend.close()


needs_gpu = pytest.mark.skipif(not _real_gpu(), reason="no NVIDIA GPU and driver here (NVML does not start)")


@pytest.mark.gpu
@needs_gpu
def test_real_gpus_report_a_mig_state_and_their_device_files():
    status = mig_status()
    assert isinstance(status, list) and status, status
    for gpu in status:
        assert gpu.mode in ("enabled", "disabled", "not supported"), gpu
        assert gpu.name
    nodes = device_nodes()
    assert "nvidiactl" in nodes and "nvidia-uvm" in nodes, nodes
    assert any(n.removeprefix("nvidia").isdigit() for n in nodes), nodes


@pytest.mark.gpu
@needs_gpu
def test_this_torch_build_runs_on_the_real_driver():
    import torch

    from course_utils.diagnostics.compat import check_runtime_on_driver
    from course_utils.telemetry import open_backend

    backend = open_backend(mode="real")
    try:
        result = check_runtime_on_driver(torch.version.cuda, backend.driver_version, backend.cuda_driver_version)
    finally:
        backend.close()
    assert result.ok, result.message
    assert torch.cuda.is_available()
