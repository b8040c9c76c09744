"""NVML's error codes, and why NVML could not start in words a learner can act on."""

from __future__ import annotations

from .samples import NoGpuCode, NoGpuReason

# NVML error codes, as in nvml.h (named here so that no other module compares bare numbers,
# and a fake NVML needs only the exception class of the real package).
ERR_UNINITIALIZED = 1
ERR_INVALID_ARGUMENT = 2
ERR_NOT_SUPPORTED = 3
ERR_NO_PERMISSION = 4
ERR_NOT_FOUND = 6
ERR_DRIVER_NOT_LOADED = 9
ERR_LIBRARY_NOT_FOUND = 12
ERR_FUNCTION_NOT_FOUND = 13
ERR_GPU_IS_LOST = 15
ERR_LIB_RM_VERSION_MISMATCH = 18
ERR_ARGUMENT_VERSION_MISMATCH = 25
ERR_UNKNOWN = 999

# A metric (or query) that fails with one of these is unavailable on that device, not broken.
UNSUPPORTED = frozenset({ERR_NOT_SUPPORTED, ERR_FUNCTION_NOT_FOUND, ERR_NO_PERMISSION})
# A device that fails with one of these is gone: it is not asked again (a lost GPU can hang).
DEVICE_FATAL = frozenset({ERR_GPU_IS_LOST, ERR_UNKNOWN})


def error_code(exc: BaseException) -> int | None:
    """The NVML error code an ``NVMLError`` carries (``None`` for any other exception)."""
    return getattr(exc, "value", None)


class NoGpuError(RuntimeError):
    """NVML is unusable here; ``reason`` says why and how to fix it."""

    def __init__(self, reason: NoGpuReason):
        super().__init__(str(reason))
        self.reason = reason


# NVML error code -> (reason code, message, fix). Codes as in nvml.h.
_INIT_FAILURES: dict[int, tuple[NoGpuCode, str, str]] = {
    ERR_LIBRARY_NOT_FOUND: (
        "library_not_found",
        "The NVIDIA driver's library libnvidia-ml.so.1 was not found: this machine has no NVIDIA "
        "driver, or this container was started without GPU access.",
        "On a host: install the NVIDIA driver. In Docker: start the container with `--gpus all` "
        "(or, with CDI, `--device nvidia.com/gpu=all`) and keep `utility` in "
        "NVIDIA_DRIVER_CAPABILITIES; the NVIDIA Container Toolkit then mounts the library.",
    ),
    ERR_DRIVER_NOT_LOADED: (
        "driver_not_loaded",
        "The NVIDIA driver is installed but its kernel module is not loaded.",
        "On the host: `sudo modprobe nvidia` (or reboot after a driver install) and read "
        "`sudo dmesg | grep -i nvidia` for the cause (Secure Boot often blocks unsigned modules).",
    ),
    ERR_NO_PERMISSION: (
        "no_permission",
        "NVML was refused access to the GPU device files (/dev/nvidia*).",
        "On a host: check the permissions of /dev/nvidia* (your user may need the `video` group). "
        "In a container: pass the GPUs with `--gpus` or CDI instead of mounting device files by hand.",
    ),
    ERR_LIB_RM_VERSION_MISMATCH: (
        "driver_library_mismatch",
        "The NVML library does not match the loaded kernel driver (usually: the driver was upgraded "
        "and the machine not rebooted).",
        "Reboot the host (or unload and reload the nvidia kernel modules), then restart the "
        "container: the toolkit mounts the host's library, so the container cannot fix this itself.",
    ),
    ERR_UNKNOWN: (
        "unknown_error",
        "NVML failed with 'Unknown Error'. Inside a container this is the known symptom of the host "
        "running `systemctl daemon-reload` on a systemd-cgroup host, which revokes the container's "
        "device access.",
        "Restart the container. To stop it recurring, follow the NVIDIA Container Toolkit "
        "troubleshooting page (use CDI, or set the device rules the toolkit documents).",
    ),
}


def reason_from_nvml_error(exc: BaseException) -> NoGpuReason:
    """Map an NVMLError raised by ``nvmlInit`` to a reason with a fix."""
    code = error_code(exc)
    if code in _INIT_FAILURES:
        key, message, fix = _INIT_FAILURES[code]
        return NoGpuReason(code=key, message=message, fix=fix, detail=f"{type(exc).__name__}: {exc}")
    return NoGpuReason(
        code="error",
        message=f"NVML could not start ({type(exc).__name__}: {exc}).",
        fix="Run `nvidia-smi` on the same machine: if it fails too, the driver needs attention; "
        "`python -m course_utils doctor` checks the rest.",
        detail=repr(exc),
    )
