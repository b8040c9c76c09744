"""docker run GPU arguments: --gpus, CDI, MIG, --ipc/--shm-size; argv lists and shell strings."""

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.containers import (
    cdi_name,
    check_command,
    docker_gpu_args,
    docker_run,
    find_docker,
    image_pinning,
    is_cdi_name,
    mig_device,
    parse_size,
    shell_join,
)
from course_utils.containers.check import ACCEPTED, NEEDS_DAEMON, PARSE_ERROR

MIG_UUID = "MIG-4f1c0d2e-aaaa-bbbb-cccc-0123456789ab"
needs_docker = pytest.mark.skipif(find_docker() is None, reason="no docker client installed to compare with")


def test_capabilities_quoted_for_docker_and_for_the_shell():
    args = docker_gpu_args("all", capabilities=["compute", "utility"])
    assert args == ["--gpus", 'all,"capabilities=compute,utility"']
    assert shell_join(args) == "--gpus 'all,\"capabilities=compute,utility\"'"
    assert shlex.split(shell_join(args)) == args  # the shell gives docker exactly the argv


@pytest.mark.parametrize(
    ("gpus", "argv"),
    [
        ("all", ["--device", "nvidia.com/gpu=all"]),
        ([0], ["--device", "nvidia.com/gpu=0"]),
        ([0, 1], ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1"]),
        ([mig_device(0, 1)], ["--device", "nvidia.com/gpu=0:1"]),
        ([MIG_UUID], ["--device", f"nvidia.com/gpu={MIG_UUID}"]),
    ],
)
def test_cdi_devices(gpus, argv):
    assert docker_gpu_args(gpus, via="cdi") == argv


def test_mig_device_via_gpus():
    assert docker_gpu_args([mig_device(0, 0), mig_device(0, 1)]) == ["--gpus", '"device=0:0,0:1"']


def test_nccl_shared_memory_options():
    assert docker_gpu_args("all", ipc_host=True) == ["--gpus", "all", "--ipc=host"]
    assert docker_gpu_args(2, shm_size="8g") == ["--gpus", "2", "--shm-size=8g"]
    assert docker_gpu_args(None, shm_size="1g") == ["--shm-size=1g"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ipc_host": True, "shm_size": "8g"}, "not both"),
        ({"shm_size": "eight"}, "invalid size"),
        ({"shm_size": "0"}, "more than zero"),
        ({"via": "cdi", "capabilities": ["compute"]}, "capabilities apply to --gpus only"),
        ({"gpus": 2, "via": "cdi"}, "CDI has no count"),
        ({"gpus": [], "via": "cdi"}, "empty list"),
        ({"gpus": [0, 0], "via": "cdi"}, "twice"),
        ({"gpus": ["0,1"], "via": "cdi"}, "repeat the flag"),
        ({"gpus": [-1], "via": "cdi"}, "0 or more"),
        ({"gpus": True, "via": "cdi"}, "a list of GPUs"),  # a bool is an int: it once reached a TypeError
        ({"via": "nvidia"}, "via="),
        ({"gpus": None, "capabilities": ["compute"]}, "without GPUs"),
    ],
)
def test_bad_combinations_are_refused_with_what_to_do(kwargs, message):
    kwargs = {"gpus": "all", **kwargs}
    gpus = kwargs.pop("gpus")
    with pytest.raises(ValueError, match=message):
        docker_gpu_args(gpus, **kwargs)


@pytest.mark.parametrize(("gpu", "instance"), [(-1, 0), (0, -1), (True, 0), ("0", 1)])
def test_mig_device_needs_two_indices(gpu, instance):
    with pytest.raises(ValueError, match="index"):
        mig_device(gpu, instance)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("nvidia.com/gpu=all", True),
        ("nvidia.com/gpu=0", True),
        ("nvidia.com/gpu=0:1", True),
        ("nvidia.com/gpu=0,1", False),
        ("nvidia.com/gpu=", False),
        ("nvidia.com/gpu", False),
        ("/dev/nvidia0", False),
        ("gpu=0", False),
        ("nvidia.com/gpu=0:", False),
        ("a/b=c", False),
        ("ab/cd=e", True),
        ("nvidia.com/gpu=-0", False),
    ],
)
def test_cdi_names(text, ok):
    assert is_cdi_name(text) is ok


def test_cdi_name_builder():
    assert cdi_name(3) == "nvidia.com/gpu=3"
    with pytest.raises(ValueError, match="CDI device"):
        cdi_name(1.0)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64m", 64 << 20),
        ("8g", 8 << 30),
        ("1GiB", 1 << 30),
        ("512", 512),
        ("1.5g", int(1.5 * (1 << 30))),
        ("2 GB", 2 << 30),
    ],
)
def test_sizes_are_read_as_docker_reads_them(text, size):
    assert parse_size(text) == size


def test_docker_run_argv_and_shell_string():
    argv = docker_run(
        "nvcr.io/nvidia/pytorch:25.10-py3",
        ["nvidia-smi", "-L"],
        gpus=[0, 1],
        ipc_host=True,
        ports={8888: 8888},
        env={"NCCL_DEBUG": "INFO"},
    )
    assert argv == [
        "docker",
        "run",
        "--rm",
        "--gpus",
        '"device=0,1"',
        "--ipc=host",
        "-p",
        "8888:8888",
        "-e",
        "NCCL_DEBUG=INFO",
        "nvcr.io/nvidia/pytorch:25.10-py3",
        "nvidia-smi",
        "-L",
    ]
    assert shell_join(argv).startswith("docker run --rm --gpus '\"device=0,1\"' --ipc=host")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": "Ubuntu"}, "not an image reference"),
        ({"image": "ubuntu 24.04"}, "not an image reference"),
        ({"image": "<image>"}, "not an image reference"),
        ({"image": "ubuntu", "command": "nvidia-smi -L"}, "list of words"),
        ({"image": "ubuntu", "ports": {70000: 80}}, "1-65535"),
        ({"image": "ubuntu", "env": {"A=B": "1"}}, "contains '='"),
    ],
)
def test_docker_run_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        docker_run(**kwargs)


# --- checked with the real docker client ------------------------------------------------------
@needs_docker
@pytest.mark.parametrize("text", ["64m", "8g", "1GiB", "512", "1.5g", "2 GB", "eight", "8x", "-1g"])
def test_size_parser_agrees_with_the_real_client(text):
    try:
        parse_size(text)
        ours = True
    except ValueError:
        ours = False
    status = check_command(["docker", "run", "--rm", f"--shm-size={text}", "ubuntu:24.04", "true"]).status
    assert ours == (status == ACCEPTED), (text, status)


@needs_docker
@pytest.mark.parametrize(
    "text",
    [
        "nvidia.com/gpu=all",
        "nvidia.com/gpu=0:1",
        "nvidia.com/gpu=0,1",
        "nvidia.com/gpu=0:",
        "nvidia.com/gpu",
        "Vendor.io/class_x=dev-1.2",
    ],
)
def test_cdi_parser_agrees_with_the_real_client(text):
    status = check_command(["docker", "run", "--rm", "--device", text, "ubuntu:24.04", "true"]).status
    # A CDI name goes on to the daemon; anything else is checked as a path, which needs the daemon's OS.
    assert status == (ACCEPTED if is_cdi_name(text) else NEEDS_DAEMON), (text, status)


@needs_docker
@settings(max_examples=30, deadline=None)
@given(
    gpus=st.one_of(st.just("all"), st.lists(st.integers(0, 7), min_size=1, max_size=3, unique=True)),
    via=st.sampled_from(["gpus", "cdi"]),
    ipc=st.booleans(),
)
def test_the_real_client_accepts_every_built_command(gpus, via, ipc):
    argv = docker_run("ubuntu:24.04", ["nvidia-smi"], gpus=gpus, via=via, ipc_host=ipc, shm_size=None if ipc else "2g")
    assert check_command(shell_join(argv)).status == ACCEPTED, shell_join(argv)


@needs_docker
def test_image_check_agrees_with_the_real_client_on_a_bad_reference():
    assert check_command("docker run --rm Ubuntu true").status == PARSE_ERROR


@pytest.mark.parametrize(
    ("image", "level"),
    [
        ("ubuntu", "floating"),
        ("ubuntu:latest", "floating"),
        ("localhost:5000/team/app", "floating"),
        ("ubuntu:24.04", "tag"),
        ("localhost:5000/team/app:1.2", "tag"),
        ("nvidia/cuda:13.0.2-base-ubuntu24.04", "tag"),
        ("python:3.11.14-slim-trixie@sha256:" + "0" * 64, "digest"),
    ],
)
def test_image_pinning(image, level):
    assert image_pinning(image) == level
