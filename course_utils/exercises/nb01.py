"""Notebook 01 (container toolkit): the stack's layers, the toolkit's commands, a checked verification."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..containers import check_command, find_docker, image_pinning
from ..selfcheck import Feedback, first_failure

__all__ = [
    "STACK_PIECES",
    "check_cdi_generate",
    "check_rootless_configure",
    "check_stack_order",
    "check_verify_command",
]

# From the hardware up. The learner receives them shuffled.
STACK_PIECES = (
    "GPU hardware",
    "NVIDIA kernel driver (host)",
    "driver user-space libraries: libcuda.so, libnvidia-ml.so (host, mounted into the container)",
    "NVIDIA Container Toolkit (host: hook or CDI spec)",
    "container runtime (Docker / containerd / podman)",
    "CUDA libraries in the image (runtime, cuDNN, NCCL)",
    "your framework and code (PyTorch, TensorFlow)",
)


def check_stack_order(order: Sequence[str] | None) -> Feedback:
    title = "Exercise 1: the layers, from the hardware up"
    given = list(order) if order is not None else None
    wrong_at = next((i for i, (a, b) in enumerate(zip(given or [], STACK_PIECES, strict=False)) if a != b), None)
    return first_failure(
        title,
        [
            (given is not None, "`stack` is still None.", "Put the pieces of STACK_PIECES in a list, bottom first."),
            (
                sorted(given or []) == sorted(STACK_PIECES),
                "your list does not hold each piece exactly once.",
                "Reorder the given pieces; do not retype, add or drop any.",
            ),
            (
                wrong_at is None,
                f"the first {wrong_at} piece(s) are in place; position {wrong_at} is not.",
                "Ask of each piece: what must already exist for it to work? The toolkit needs the host driver; "
                "the image's CUDA libraries need the driver's libcuda inside the container.",
            ),
        ],
        success="Right. The line between host and image runs between the toolkit/runtime and the CUDA "
        "libraries: the image brings CUDA, the host brings the driver, the toolkit joins them.",
    )


def _argv(command: str | None) -> list[str]:
    try:
        return shlex.split(str(command or ""))
    except ValueError:
        return []


def check_rootless_configure(command: str | None) -> Feedback:
    """Register the NVIDIA runtime with a *rootless* Docker."""
    title = "Exercise 2a: configure rootless Docker"
    argv = _argv(command)
    config = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    return first_failure(
        title,
        [
            (bool(argv), "`rootless_configure` is empty.", "Write the command as one string."),
            (
                argv[:1] == ["nvidia-ctk"],
                f"the command starts with {argv[:1]}.",
                "The toolkit's own configuration tool does this; rootless Docker runs as you, so no sudo.",
            ),
            (
                argv[1:3] == ["runtime", "configure"],
                "that is not the sub-command that registers a runtime.",
                "nvidia-ctk has a `runtime` group with a `configure` command.",
            ),
            ("--runtime=docker" in argv, "say which runtime to configure.", "Use the --runtime=NAME form."),
            (
                config is not None,
                "rootless Docker does not read /etc/docker/daemon.json.",
                "Point --config=PATH at the daemon.json of your own user's Docker configuration.",
            ),
            (
                config is not None
                and config.replace("~", "$HOME").endswith(".config/docker/daemon.json")
                and config.replace("~", "$HOME").startswith("$HOME"),
                "that --config path is not rootless Docker's configuration file.",
                "Rootless Docker keeps it under your home directory, in the XDG config folder.",
            ),
        ],
        success="Right: rootless Docker has its own daemon.json; restart it with `systemctl --user restart "
        "docker` afterwards (and set no-cgroups, as the cell above shows).",
    )


def check_cdi_generate(command: str | None) -> Feedback:
    """Write the CDI specification by hand (toolkit older than 1.18)."""
    title = "Exercise 2b: generate the CDI specification"
    argv = _argv(command)
    if argv[:1] == ["sudo"]:
        argv = argv[1:]
    output = next((a.split("=", 1)[1] for a in argv if a.startswith("--output=")), None)
    if output is None and "--output" in argv[:-1]:
        output = argv[argv.index("--output") + 1]
    return first_failure(
        title,
        [
            (bool(argv), "`cdi_generate` is empty.", "Write the command as one string."),
            (
                argv[:3] == ["nvidia-ctk", "cdi", "generate"],
                "that is not the command that writes a CDI spec.",
                "The toolkit's tool has a `cdi` group; one of its commands generates the spec.",
            ),
            (
                output is not None,
                "without --output the spec is printed, not saved where runtimes look.",
                "Give --output=PATH.",
            ),
            (
                output in ("/etc/cdi/nvidia.yaml", "/var/run/cdi/nvidia.yaml"),
                f"runtimes do not look for CDI specs at {output!r}.",
                "Runtimes read the two standard CDI folders; the hand-made spec goes in the one under /etc.",
            ),
        ],
        success="Right. Regenerate it after every driver upgrade or MIG change (toolkit 1.18+ does that "
        "for you with the nvidia-cdi-refresh service).",
    )


def check_verify_command(command: str | None) -> Feedback:
    """A ``docker run`` that verifies GPU access through CDI with a pinned plain image."""
    title = "Exercise 3: a verification command that the real docker client accepts"
    argv = _argv(command)
    devices = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--device"] + [
        a.split("=", 1)[1] for a in argv if a.startswith("--device=")
    ]
    positional = [
        a
        for i, a in enumerate(argv[2:], 2)
        if not a.startswith("-") and argv[i - 1] not in ("--device", "--gpus", "-e", "--name")
    ]
    image = positional[0] if positional else ""
    client = check_command(argv) if argv[:2] == ["docker", "run"] and find_docker() else None
    return first_failure(
        title,
        [
            (argv[:2] == ["docker", "run"], "the command should start with `docker run`.", "Start with docker run."),
            (
                "--gpus" not in " ".join(argv),
                "this exercise asks for CDI, not --gpus.",
                "CDI devices are passed with another docker run flag, one device per flag.",
            ),
            (
                any(d.startswith("nvidia.com/gpu=") for d in devices),
                "no CDI GPU device is requested.",
                "A CDI name is vendor/class=name; NVIDIA's GPUs are in the class `gpu`.",
            ),
            (
                bool(image) and not image.startswith("nvidia/cuda:11"),
                f"the image {image!r} cannot verify anything: the CUDA 11.0 tags were deleted."
                if image
                else "no image given.",
                "The toolkit mounts nvidia-smi into any image: a plain OS image is enough.",
            ),
            (
                image_pinning(image) != "floating" if image else False,
                f"{image!r} floats: it changes with every pull.",
                "Give a version tag (or a digest).",
            ),
            (
                image in argv and "nvidia-smi" in argv[argv.index(image) + 1 :],
                "the container should run the tool that lists the GPUs it received.",
                "Run nvidia-smi in it.",
            ),
            (
                client is None or client.status == "accepted",
                f"the real docker client says {client.status if client else ''}: {client.message if client else ''}",
                "Fix what the client complains about.",
            ),
        ],
        success="Right"
        + (
            ", and the real docker client parsed it."
            if client
            else " (no docker client here, so the real client was not asked)."
        )
        + " Add --rm so verification containers do not pile up.",
    )
