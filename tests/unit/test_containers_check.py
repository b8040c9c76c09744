"""The docker command checker: parse error vs. cannot connect, with the real client and a fake one."""

import os
import stat
import textwrap

import pytest

from course_utils.containers import check_command, find_docker
from course_utils.containers.check import (
    ACCEPTED,
    CRASH,
    NEEDS_DAEMON,
    NOT_RUN,
    OK,
    PARSE_ERROR,
    UNAVAILABLE,
    classify,
)

needs_docker = pytest.mark.skipif(find_docker() is None, reason="no docker client installed")


@needs_docker
def test_tutorial_form_is_a_parse_error_and_the_fix_reaches_the_daemon():
    wrong = check_command("docker run --rm --gpus 'all,capabilities=compute,utility' ubuntu:24.04 nvidia-smi")
    right = check_command("docker run --rm --gpus 'all,\"capabilities=compute,utility\"' ubuntu:24.04 nvidia-smi")
    assert wrong.status == PARSE_ERROR and "invalid count" in wrong.message
    assert right.status == ACCEPTED and right.parses


@needs_docker
@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("docker run --rm --gpus all ubuntu:24.04 nvidia-smi", ACCEPTED),
        ("docker run --rm --device nvidia.com/gpu=all ubuntu:24.04 nvidia-smi", ACCEPTED),
        ("docker run --rm --device nvidia.com/gpu=0,1 ubuntu:24.04 nvidia-smi", NEEDS_DAEMON),
        ("docker run --rm --gpus all", PARSE_ERROR),
        ("docker run --rm --bogus ubuntu:24.04", PARSE_ERROR),
        ("docker run --rm --shm-size=lots ubuntu:24.04", PARSE_ERROR),
        ("docker info", ACCEPTED),
        ("docker --version", OK),
    ],
)
def test_real_client_outcomes(command, status):
    assert check_command(command).status == status


@pytest.mark.parametrize(
    "command",
    ["docker login -u me", "docker -H tcp://127.0.0.1:1 info", "docker --context=prod ps", "docker push me/image:1"],
)
def test_commands_that_could_reach_something_are_not_run(command):
    assert check_command(command, docker="/nonexistent/docker").status == NOT_RUN


def test_not_a_docker_command_is_a_value_error():
    with pytest.raises(ValueError, match="must start with `docker`"):
        check_command("podman run ubuntu")


def test_no_client_means_not_run_with_a_hint(monkeypatch):
    monkeypatch.setattr("course_utils.containers.check.find_docker", lambda: None)
    result = check_command("docker run --rm --gpus all ubuntu:24.04 true")
    assert result.status == NOT_RUN and "install the docker CLI" in result.message


@pytest.mark.parametrize(
    ("code", "output", "status"),
    [
        (125, "docker: Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?", ACCEPTED),
        (1, "error during connect: Get ...", ACCEPTED),
        (125, 'invalid argument "x" for "--gpus" flag: invalid count (x)', PARSE_ERROR),
        (125, "docker: unknown server OS: ", NEEDS_DAEMON),
        (2, "panic: runtime error: slice bounds out of range [1:0]\ngoroutine 1 [running]:", CRASH),
        (1, "docker: unknown command: docker compose\n\nRun 'docker --help' for more information", UNAVAILABLE),
        (0, "Docker version 28.2.2, build e6534b4", OK),
        (1, "", PARSE_ERROR),
    ],
)
def test_classify(code, output, status):
    assert classify(code, output)[0] == status


def _fake_docker(tmp_path, body: str):
    exe = tmp_path / "docker"
    exe.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def test_the_client_runs_with_a_missing_daemon_and_an_empty_config(tmp_path):
    exe = _fake_docker(
        tmp_path,
        """\
        echo "host=$DOCKER_HOST config=$DOCKER_CONFIG ctx=${DOCKER_CONTEXT:-none}" >&2
        test -e "${DOCKER_HOST#unix://}" && echo "socket exists" >&2
        echo "Cannot connect to the Docker daemon at $DOCKER_HOST." >&2
        exit 125
        """,
    )
    os.environ["DOCKER_CONTEXT"] = "production"
    try:
        result = check_command("docker info", docker=exe)
    finally:
        del os.environ["DOCKER_CONTEXT"]
    assert result.status == ACCEPTED
    assert "ctx=none" in result.output and "socket exists" not in result.output
    assert "no-daemon.sock" in result.output and "config=/" in result.output


def test_a_hanging_client_is_reported_not_waited_for(tmp_path):
    exe = _fake_docker(tmp_path, "exec sleep 30\n")
    result = check_command("docker info", docker=exe, timeout=0.5)
    assert result.status == NOT_RUN and "did not finish" in result.message
