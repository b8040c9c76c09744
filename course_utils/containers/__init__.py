"""Docker and GPUs: build ``docker run`` GPU arguments correctly, and check docker commands.

* ``args``: ``docker_gpu_args``, ``docker_run``, ``shell_join``, ``mig_device``, ``parse_size``;
* ``gpus``: the ``--gpus`` value: ``gpus_value``, ``parse_gpus_value`` (docker's own rules),
  ``visible_devices`` (what the daemon then exposes);
* ``cdi``: CDI device names (``--device nvidia.com/gpu=0``);
* ``check``: run the real docker client with no daemon: parse error or not?
* ``extract`` / ``course_check``: every docker command the course shows, checked
  (``python -m course_utils.containers check``).
"""

from .args import check_image, docker_gpu_args, docker_run, image_pinning, mig_device, parse_size, shell_join
from .cdi import cdi_name, is_cdi_name, parse_cdi_name
from .check import CommandCheck, check_command, find_docker
from .gpus import (
    DaemonWouldReject,
    GpuRequest,
    GpusParseError,
    driver_capabilities,
    gpus_value,
    parse_gpus_value,
    visible_devices,
)
from .lint import lint_gpu_flags

__all__ = [
    "CommandCheck",
    "DaemonWouldReject",
    "GpuRequest",
    "GpusParseError",
    "cdi_name",
    "check_command",
    "check_image",
    "docker_gpu_args",
    "docker_run",
    "driver_capabilities",
    "find_docker",
    "gpus_value",
    "image_pinning",
    "is_cdi_name",
    "lint_gpu_flags",
    "mig_device",
    "parse_cdi_name",
    "parse_gpus_value",
    "parse_size",
    "shell_join",
    "visible_devices",
]
