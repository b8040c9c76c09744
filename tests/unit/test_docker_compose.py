"""docker/compose.yaml: GPU reservation, token, shared memory, offline grading."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(COMPOSE.read_text())


def _gpu_reservation(service):
    return service["deploy"]["resources"]["reservations"]["devices"]


@pytest.mark.parametrize("name", ["workshop", "grading"])
def test_services_reserve_nvidia_gpus(spec, name):
    devices = _gpu_reservation(spec["services"][name])
    assert len(devices) == 1
    dev = devices[0]
    assert dev["driver"] == "nvidia" and dev["capabilities"] == ["gpu"]
    # count and device_ids are alternatives; one of them must say which GPUs
    assert ("count" in dev) != ("device_ids" in dev)
    assert dev.get("count") == "all" or isinstance(dev.get("count"), int) or dev.get("device_ids")


@pytest.mark.parametrize("name", ["workshop", "grading"])
def test_builds_point_at_the_dockerfiles(spec, name):
    build = spec["services"][name]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()


def test_workshop_needs_a_token_and_has_shared_memory_for_nccl(spec):
    workshop = spec["services"]["workshop"]
    assert workshop["environment"]["JUPYTER_TOKEN"].startswith("${JUPYTER_TOKEN:?")
    assert workshop["shm_size"].lower().endswith(("gb", "g"))
    assert any(str(p).endswith(":8888") for p in workshop["ports"])
    assert "ipc" not in workshop  # shm_size and ipc: host are alternatives


def test_grading_is_offline_and_only_on_request(spec):
    grading = spec["services"]["grading"]
    assert grading["network_mode"] == "none"
    assert grading["profiles"] == ["grading"]
    assert grading["build"]["args"]["WORKSHOP_IMAGE"] == spec["services"]["workshop"]["image"]


def _compose_available() -> bool:
    try:
        return subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _compose_available(), reason="docker compose plugin not installed; structure checked above")
def test_docker_compose_accepts_the_file():
    env = dict(os.environ, JUPYTER_TOKEN="x" * 32, DOCKER_HOST="unix:///nonexistent/docker.sock")
    proc = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--profile", "grading", "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    env.pop("JUPYTER_TOKEN")
    proc = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode != 0 and "JUPYTER_TOKEN" in proc.stderr


def test_workshop_binds_to_loopback_unless_told_and_both_services_run_an_init(spec):
    workshop = spec["services"]["workshop"]
    (port,) = workshop["ports"]
    assert str(port).startswith("${COURSE_BIND:-127.0.0.1}:"), port
    assert all(spec["services"][name].get("init") is True for name in ("workshop", "grading"))


def test_grading_state_is_a_host_folder(spec):
    (mount,) = spec["services"]["grading"]["volumes"]
    host, container = mount.rsplit(":", 1)
    assert container == "/grading" and not host.startswith(("course-work", "/home/learner"))
