"""Helpers to run the real workshop and grading images (CPU variant) with podman, as
jupyter/docker-stacks' tests run theirs: a container per test (or module), always removed.

The images come from `make image` (docker/build.sh cpu); without podman or the images the tests
are skipped with the command to run. Publishing a port on 127.0.0.1 (`-p 127.0.0.1:PORT:8888`)
works here with podman's default network; `--network host` is not needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.localhost import http_status

TAG = os.environ.get("COURSE_IMAGE_TAG", "2026.11")
WORKSHOP = f"localhost/gpu-course/workshop:{TAG}-cpu"
GRADING = f"localhost/gpu-course/grading:{TAG}-cpu"
# runc, explicit limits: see docs/docker.md ("Built and run here, with podman") and docker/build.sh
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


def podman(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=check)


def require_image(image: str) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman not installed: `make container-deps` (root), then `make image`")
    if podman("image", "exists", image).returncode != 0:
        pytest.skip(f"{image} not built: `make image` (docker/build.sh cpu)")


@dataclass
class Container:
    """One running container; `run` starts it, `remove` always cleans up."""

    image: str
    name: str = field(default_factory=lambda: f"course-test-{uuid.uuid4().hex[:10]}")
    started: bool = False

    def run(self, *args: str, command: tuple[str, ...] = (), env: dict | None = None) -> None:
        envs = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        proc = podman("run", "-d", "--init", "--name", self.name, *LIMITS, *envs, *args, self.image, *command)
        assert proc.returncode == 0, proc.stderr
        self.started = True

    def exec(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return podman("exec", self.name, *cmd, timeout=timeout)

    def logs(self) -> str:
        proc = podman("logs", self.name)
        return proc.stdout + proc.stderr

    def wait_for_log(self, text: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.logs()
            if text in out:
                return out
            state = podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip()
            if state == "false":
                raise AssertionError(f"the container stopped before printing {text!r}:\n{out[-3000:]}")
            time.sleep(0.5)
        raise AssertionError(f"no {text!r} in {timeout:.0f} s:\n{self.logs()[-3000:]}")

    def remove(self) -> None:
        if self.started:
            podman("rm", "-f", "-t", "2", self.name, timeout=60)
            self.started = False


def wait_http(url: str, want: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while http_status(url) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer {want} in {timeout:.0f} s (last: {http_status(url)})")
        time.sleep(0.5)


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
