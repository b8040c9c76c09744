"""Driver vs CUDA runtime compatibility, computed rather than remembered.

Sources: NVIDIA's CUDA Toolkit release notes (table "CUDA Toolkit and
Corresponding Driver Versions") and the CUDA compatibility guide. A CUDA
runtime of major version M runs on any driver that supports M.0 or newer
("minor version compatibility"); PTX JIT of code newer than the driver is the
exception. CUDA 13 dropped GPUs below compute capability 7.5.
"""

from __future__ import annotations

from dataclasses import dataclass

# Minimum Linux driver for each CUDA major version (minor version compatibility).
# Kept as text: driver versions are written with zero-padded parts ("580.65.06").
MIN_DRIVER_FOR_CUDA_MAJOR: dict[int, str] = {
    11: "450.80.02",
    12: "525.60.13",
    13: "580.65.06",
}
MIN_COMPUTE_CAPABILITY: dict[int, tuple[int, int]] = {
    11: (3, 5),
    12: (5, 0),
    13: (7, 5),
}


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """'580.159.04' -> (580, 159, 4); None or junk -> None."""
    if not text:
        return None
    parts = []
    for piece in str(text).strip().split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


@dataclass(frozen=True)
class CompatResult:
    ok: bool
    message: str
    fix: str = ""


def check_runtime_on_driver(
    cuda_runtime: str, driver_version: str | None, driver_cuda: str | None = None
) -> CompatResult:
    """Can a program built against CUDA ``cuda_runtime`` (e.g. torch.version.cuda)
    run on this driver? ``driver_cuda`` is the newest CUDA the driver supports
    (what nvidia-smi shows as "CUDA Version")."""
    runtime = parse_version(cuda_runtime)
    if runtime is None:
        return CompatResult(False, f"cannot read the CUDA runtime version {cuda_runtime!r}")
    major = runtime[0]
    needed_text = MIN_DRIVER_FOR_CUDA_MAJOR.get(major)
    needed = parse_version(needed_text)
    driver = parse_version(driver_version)
    supported = parse_version(driver_cuda)
    if driver is None and supported is None:
        return CompatResult(
            False,
            "no driver version to compare with",
            "Install the NVIDIA driver (or start the container with GPU access).",
        )
    if supported is not None and supported[0] < major:
        return CompatResult(
            False,
            f"this driver supports CUDA up to {driver_cuda}, but the program needs CUDA {cuda_runtime}",
            f"Upgrade the host driver to {needed_text or 'a newer one'} or "
            f"newer, or use a build for CUDA {supported[0]} (for PyTorch, the cu{supported[0]}x wheels).",
        )
    if needed is not None and driver is not None and driver < needed:
        return CompatResult(
            False,
            f"CUDA {major}.x needs driver >= {needed_text}; this driver is {driver_version}",
            "Upgrade the host driver, or use a framework build for an older CUDA major version.",
        )
    return CompatResult(
        True, f"CUDA {cuda_runtime} runs on driver {driver_version or '?'} (supports CUDA {driver_cuda or '?'})"
    )


def check_compute_capability(cuda_runtime: str, capability: tuple[int, int]) -> CompatResult:
    runtime = parse_version(cuda_runtime)
    if runtime is None:
        return CompatResult(False, f"cannot read the CUDA runtime version {cuda_runtime!r}")
    minimum = MIN_COMPUTE_CAPABILITY.get(runtime[0])
    if minimum is not None and tuple(capability) < minimum:
        return CompatResult(
            False,
            f"CUDA {runtime[0]} needs compute capability >= {minimum[0]}.{minimum[1]}; this GPU is "
            f"{capability[0]}.{capability[1]}",
            "Use a build for an older CUDA (CUDA 12 supports compute capability 5.0 and newer).",
        )
    return CompatResult(True, f"compute capability {capability[0]}.{capability[1]} is supported by CUDA {runtime[0]}")
