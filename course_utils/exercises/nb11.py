"""Notebook 11 (best practices): review a Dockerfile, write a docker run command. Never gives the answer."""

from __future__ import annotations

import shlex

from course_utils.selfcheck import Feedback

DOCKERFILE = """\
FROM nvidia/cuda:latest
RUN pip install torch torchvision
ENV NVIDIA_VISIBLE_DEVICES=all
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY train.py /app/train.py
USER 1000
CMD ["python", "/app/train.py"]"""

_BREAKS = {1: "an unpinned base image", 2: "unpinned packages", 3: "a GPU choice baked into the image"}
_RIGHT = {
    4: "compute,utility is exactly what a training image needs",
    5: "copying one file is fine",
    6: "a non-root user is a good practice",
    7: "an exec-form CMD is right",
}


def check_dockerfile_review(breaks) -> Feedback:
    """Exercise 1: the line numbers of DOCKERFILE that break a practice."""
    title = "Exercise 1: review a Dockerfile"
    try:
        chosen = {int(n) for n in (breaks or ())}
    except (TypeError, ValueError):
        return Feedback(False, title, "`breaks` must be a set of line numbers.", "For example {2, 5}.")
    if not chosen:
        return Feedback(False, title, "`breaks` is empty.", "Add the numbers of the lines that break a practice.")
    unknown = sorted(n for n in chosen if not 1 <= n <= 7)
    if unknown:
        return Feedback(False, title, f"The Dockerfile has no line {unknown[0]}.", "Lines are numbered 1 to 7.")
    wrong = sorted(chosen - set(_BREAKS))
    if wrong:
        return Feedback(
            False,
            title,
            f"Line {wrong[0]} follows the practices: {_RIGHT[wrong[0]]}.",
            "Keep only the lines that break a practice in the table above.",
        )
    missing = len(set(_BREAKS) - chosen)
    if missing:
        return Feedback(
            False,
            title,
            f"{missing} more line(s) break a practice.",
            "Look at what each line pins, and what it decides for whoever runs the image.",
        )
    return Feedback(
        True,
        title,
        "Right: line 1 is "
        + _BREAKS[1]
        + ", line 2 "
        + _BREAKS[2]
        + ", line 3 "
        + _BREAKS[3]
        + ". Pin the base image (tag, better a digest) and the packages, and leave the "
        "GPU choice to `docker run --gpus`.",
    )


def check_run_command(command: str | None, *, run_client: bool = True) -> Feedback:
    """Exercise 2: a ``docker run`` command for a 2-GPU DDP job on GPUs 0 and 1, checked by the course's
    parsers and, where installed, by the real docker client (no daemon needed)."""
    from course_utils.containers import check_command, image_pinning, parse_gpus_value, visible_devices
    from course_utils.containers.gpus import DaemonWouldReject, GpusParseError

    title = "Exercise 2: a docker run command"
    if not command or not isinstance(command, str):
        return Feedback(False, title, "`command` is empty.", "Write the whole command, starting with `docker run`.")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return Feedback(False, title, f"The shell could not split it: {exc}.", "Check your quotes.")
    if argv[:2] != ["docker", "run"]:
        return Feedback(False, title, "It must start with `docker run`.", "")
    gpus = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--gpus"] + [
        a.split("=", 1)[1] for a in argv if a.startswith("--gpus=")
    ]
    if not gpus:
        return Feedback(False, title, "No --gpus flag.", "The container gets no GPU without it (or CDI --device).")
    try:
        request = parse_gpus_value(gpus[0])
    except (GpusParseError, ValueError) as exc:
        return Feedback(
            False,
            title,
            f"docker would reject the --gpus value: {exc}",
            "A field with a comma inside needs double quotes, and the shell needs single quotes "
            "around the whole value.",
        )
    try:
        visible = visible_devices(request)
    except DaemonWouldReject as exc:
        reason = str(exc).split(":")[0]
        return Feedback(
            False,
            title,
            f"The client parses it, but the daemon would refuse it: {reason}.",
            "An unquoted list inside --gpus is read as separate fields.",
        )
    if visible != "0,1":
        return Feedback(
            False,
            title,
            f"That --gpus value gives the container GPUs {visible!r}.",
            "Select exactly GPUs 0 and 1 by their device IDs.",
        )
    caps = set(request.capabilities) - {"gpu"}  # "gpu" is added by the client; none given: the image's default
    if caps and not {"compute", "utility"} <= caps:
        return Feedback(
            False,
            title,
            f"The capabilities {sorted(caps)} leave out compute or utility.",
            "Training needs compute; nvidia-smi and NVML need utility.",
        )
    if not any(a in ("--ipc=host",) or a.startswith("--shm-size") for a in argv):
        return Feedback(
            False,
            title,
            "NCCL and DataLoader workers will run out of shared memory (64 MiB default).",
            "Give the container more /dev/shm, or the host's IPC namespace.",
        )
    image = next((a for a in argv[2:] if not a.startswith("-") and _is_image_position(argv, a)), None)
    if image is None:
        return Feedback(False, title, "No image found.", "The image comes after the options.")
    try:
        pin = image_pinning(image)
    except ValueError as exc:
        return Feedback(False, title, str(exc), "")
    if pin == "floating":
        return Feedback(False, title, f"`{image}` floats: tomorrow it may be another image.", "Pin a tag or a digest.")
    if run_client:
        result = check_command(argv)
        if result.status == "parse_error":
            return Feedback(False, title, f"The real docker client rejects it: {result.message}", "")
        client = f" The real docker client {'accepted it' if result.parses else 'was not run: ' + result.message}."
    else:
        client = ""
    return Feedback(
        True,
        title,
        "Right: GPUs 0 and 1 only, CUDA and NVML available, room in /dev/shm for NCCL, "
        f"and a pinned image ({pin})." + client,
    )


_VALUE_FLAGS = {
    "--gpus",
    "-e",
    "--env",
    "-v",
    "--volume",
    "--shm-size",
    "--name",
    "-w",
    "--workdir",
    "--device",
    "--network",
    "-p",
    "--publish",
    "--user",
    "-u",
    "--entrypoint",
    "--ipc",
    "--runtime",
    "--cpus",
    "-m",
    "--memory",
    "--mount",
    "--env-file",
    "--ulimit",
    "--label",
    "-l",
}


def _is_image_position(argv: list[str], word: str) -> bool:
    i = argv.index(word)
    prev = argv[i - 1]
    return prev not in _VALUE_FLAGS
