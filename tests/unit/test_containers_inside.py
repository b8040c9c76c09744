"""Read-only checks from inside a container: variables, device files, /dev/shm, MIG."""

from types import SimpleNamespace

from support.fake_nvml import ERR, FakeNvml

from course_utils.containers.inside import (
    DOCKER_DEFAULT_SHM,
    device_nodes,
    mig_status,
    nvidia_env,
    shm_advice,
    shm_bytes,
)


def test_nvidia_env_reports_every_variable_set_or_not():
    env = nvidia_env({"NVIDIA_VISIBLE_DEVICES": "0,1", "PATH": "/bin"})
    assert env["NVIDIA_VISIBLE_DEVICES"] == "0,1" and env["NVIDIA_DRIVER_CAPABILITIES"] is None
    assert "PATH" not in env


def test_device_nodes_lists_gpu_files_and_mig_caps(tmp_path):
    dev = tmp_path / "dev"
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (dev / name).touch()
    (dev / "nvidia-caps" / "nvidia-cap1").touch()
    assert device_nodes(tmp_path) == ["nvidia-caps", "nvidia-uvm", "nvidia0", "nvidiactl", "nvidia-caps/nvidia-cap1"]
    assert device_nodes(tmp_path / "nowhere") == []


def test_shm_size_and_advice(tmp_path):
    assert shm_bytes(tmp_path / "missing") is None
    assert shm_bytes("/") > 0
    assert "--shm-size=8g" in shm_advice(DOCKER_DEFAULT_SHM, in_container=True)
    assert "enough" in shm_advice(8 << 30, in_container=True)
    assert "not Linux" in shm_advice(None, in_container=False)


class MigFake(FakeNvml):
    """FakeNvml plus MIG queries: GPU 0 has MIG on with two devices, GPU 1 does not support MIG."""

    def nvmlDeviceGetMigMode(self, h):
        if self.nvmlDeviceGetCount() > 1 and h == self.nvmlDeviceGetHandleByIndex(1):
            raise self.NVMLError(ERR.NOT_SUPPORTED)  # what the binding raises: classified by its code
        return (1, 1)

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, k):
        if k >= 2:
            raise RuntimeError("not found")
        return ("mig", k)

    def nvmlDeviceGetUUID(self, h):
        if isinstance(h, tuple):
            return f"MIG-0000000{h[1]}-aaaa-bbbb-cccc-0123456789ab"
        return super().nvmlDeviceGetUUID(h)

    def nvmlDeviceGetMemoryInfo(self, h, version=None):
        if isinstance(h, tuple):
            return SimpleNamespace(total=35 << 30)
        return super().nvmlDeviceGetMemoryInfo(h, version)


def test_mig_status_reads_modes_and_devices():
    fake = MigFake(2)
    status = mig_status(lambda: fake)
    assert [s.mode for s in status] == ["enabled", "not supported"]
    assert status[0].devices == (
        "MIG-00000000-aaaa-bbbb-cccc-0123456789ab (35 GiB)",
        "MIG-00000001-aaaa-bbbb-cccc-0123456789ab (35 GiB)",
    )
    assert status[0].pending is None


def test_mig_status_without_a_driver_says_so():
    def no_driver():
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")

    assert "no NVIDIA driver" in mig_status(no_driver)
    fake = FakeNvml(1, init_error=12)
    assert isinstance(mig_status(lambda: fake), str)


def test_mig_status_tells_an_unreadable_mode_from_an_unsupported_one():
    class Unreadable(MigFake):
        def nvmlDeviceGetMigMode(self, h):
            raise self.NVMLError(ERR.NO_PERMISSION)

    status = mig_status(lambda: Unreadable(1))
    assert status[0].mode.startswith("unreadable")
