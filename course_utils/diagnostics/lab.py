"""A break-and-fix lab for "GPU not detected": the real doctor on a simulated GPU container.

A learner without a GPU host cannot start a broken GPU container, so this module builds what the
doctor would find in one and hands it to the doctor through its normal inputs (:class:`Context`):
the environment the NVIDIA Container Toolkit sets, the device files it mounts, a stand-in NVML,
and the frameworks' answers. The ``docker run`` arguments are read with the course's copy of
docker's own ``--gpus`` parser, so ``--gpus 0`` really means "no GPU" here, as it does in Docker.

What the toolkit does, as modelled (NVIDIA Container Toolkit docs, "Driver capabilities"):

* no ``--gpus`` (and no GPU in the image's environment), or ``NVIDIA_VISIBLE_DEVICES=void``:
  nothing is mounted, so no device files and no ``libnvidia-ml.so.1``;
* ``utility`` missing from the capabilities: no NVML library and no ``nvidia-smi``, while
  ``compute`` still gives CUDA;
* ``CUDA_VISIBLE_DEVICES`` hides GPUs from CUDA only; NVML ignores it;
* a framework built for a newer CUDA major version than the driver supports finds no GPU.

Every report from here is labelled SIMULATED.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

from ..containers.gpus import DaemonWouldReject, GpusParseError, driver_capabilities, parse_gpus_value, visible_devices
from ..telemetry.errors import ERR_LIBRARY_NOT_FOUND
from ..telemetry.nvml import load_nvml
from ..units import MIB
from .compat import check_runtime_on_driver
from .doctor import FAIL, Check, Context, format_report, run_checks

__all__ = ["LAB_STEPS", "Scenario", "SimulatedNvml", "diagnose", "lab_report"]

SIMULATED = "SIMULATED (a modelled container on a modelled 2 x H200 host; the doctor's checks are the real ones)"
_DRIVER_CUDA = {"580": "13.0", "570": "12.8", "550": "12.4", "535": "12.2", "525": "12.0"}


class SimulatedNvml:
    """Just enough of the ``pynvml`` module for the doctor: a healthy driver, or a missing library."""

    def __init__(self, gpus: int, driver: str, library_present: bool = True):
        real = load_nvml()  # for its exception class and constants only: nothing real is called

        self.NVMLError = real.NVMLError
        self.NVML_TEMPERATURE_GPU = real.NVML_TEMPERATURE_GPU
        self.NVML_CLOCK_SM = real.NVML_CLOCK_SM
        self.nvmlMemory_v2 = None  # the v1 memory call is enough here
        self._gpus, self._driver, self._present = gpus, driver, library_present
        cuda = _DRIVER_CUDA.get(driver.split(".")[0], "13.0")
        major, minor = cuda.split(".")
        self._cuda = int(major) * 1000 + int(minor) * 10

    def nvmlInit(self):
        if not self._present:
            raise self.NVMLError(ERR_LIBRARY_NOT_FOUND)

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return self._gpus

    def nvmlSystemGetDriverVersion(self):
        return self._driver

    def nvmlSystemGetCudaDriverVersion(self):
        return self._cuda

    def nvmlDeviceGetHandleByIndex(self, i):
        return SimpleNamespace(index=i)

    def nvmlDeviceGetName(self, h):
        return "NVIDIA H200"

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-simulated-{h.index}"

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700_000

    def nvmlDeviceGetMemoryInfo(self, h, version=None):
        return SimpleNamespace(used=0, total=143771 * MIB, free=143771 * MIB)

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=0, memory=0)

    def nvmlDeviceGetTemperature(self, h, sensor):
        return 33

    def nvmlDeviceGetPowerUsage(self, h):
        return 78_000

    def nvmlDeviceGetClockInfo(self, h, clock):
        return 345


@dataclass(frozen=True)
class Scenario:
    """A container as someone started it: the ``docker run`` GPU arguments, ``-e`` variables,
    the host's driver and the CUDA version the image's framework was built for."""

    docker_args: Sequence[str] = ("--gpus", "all")
    image_env: Mapping[str, str] = field(default_factory=dict)  # ENV lines of the image
    host_driver: str = "580.159.04"
    framework_cuda: str = "13.0"  # torch.version.cuda of the image's PyTorch
    host_gpus: int = 2

    def container_env(self) -> dict[str, str]:
        """The container's environment: the image's ENV, then ``-e``, then what ``--gpus`` sets."""
        env = dict(self.image_env)
        args = list(self.docker_args)
        gpus: str | None = None
        while args:
            arg = args.pop(0)
            key, eq, inline = arg.partition("=")
            if key in ("--gpus", "-e", "--env") and not eq and not args:
                raise ValueError(f"{arg} needs a value after it")
            value = inline if eq else (args.pop(0) if key in ("--gpus", "-e", "--env") else "")
            if key == "--gpus":
                gpus = value
            elif key in ("-e", "--env"):
                name, has_value, val = value.partition("=")
                if not has_value:
                    raise ValueError(f"write -e {name}=VALUE: the lab has no host environment to copy {name} from")
                env[name] = val
            else:
                raise ValueError(f"the lab understands --gpus VALUE and -e NAME=VALUE, not {arg!r}")
        if gpus is not None:
            request = parse_gpus_value(gpus)  # GpusParseError: the real client refuses it too
            env["NVIDIA_VISIBLE_DEVICES"] = visible_devices(request)  # DaemonWouldReject, likewise
            caps = driver_capabilities(request)
            if caps:
                env["NVIDIA_DRIVER_CAPABILITIES"] = caps
        return env


def _visible(env: Mapping[str, str], host_gpus: int) -> int:
    value = env.get("NVIDIA_VISIBLE_DEVICES")
    if value is None or value.strip().lower() in ("", "void", "none"):
        return 0
    if value.strip().lower() == "all":
        return host_gpus
    return len([v for v in value.split(",") if v.strip()])


def _cuda_visible(env: Mapping[str, str], gpus: int) -> int:
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return gpus
    count = 0
    for item in value.split(","):  # CUDA stops at the first entry it cannot use
        item = item.strip()
        if not item.isdigit() or int(item) >= gpus:
            break
        count += 1
    return count


def _context(scenario: Scenario, root: Path) -> Context:
    env = scenario.container_env()
    caps = {c.strip() for c in env.get("NVIDIA_DRIVER_CAPABILITIES", "compute,utility").split(",")}
    gpus = _visible(env, scenario.host_gpus)
    utility = bool({"utility", "all"} & caps)
    compute = bool({"compute", "all"} & caps)
    (root / "dev").mkdir()
    (root / ".dockerenv").touch()
    (root / "proc/1").mkdir(parents=True)
    (root / "proc/1/cgroup").write_text("0::/docker/simulated\n")
    for name in [f"nvidia{i}" for i in range(gpus)] + (["nvidiactl", "nvidia-uvm"] if gpus else []):
        (root / "dev" / name).touch()
    smi = None
    if gpus and utility:
        smi = root / "nvidia-smi"
        lines = "\n".join(f"GPU {i}: NVIDIA H200 (UUID: GPU-simulated-{i})" for i in range(gpus))
        smi.write_text(f"#!/bin/sh\ncat <<'EOF'\n{lines}\nEOF\n")
        smi.chmod(0o755)

    driver_cuda = _DRIVER_CUDA.get(scenario.host_driver.split(".")[0], "13.0")
    runs = check_runtime_on_driver(scenario.framework_cuda, scenario.host_driver, driver_cuda).ok
    usable = _cuda_visible(env, gpus) if (compute and runs) else 0
    torch_info = {
        "installed": True,
        "version": f"2.14.1+cu{scenario.framework_cuda.replace('.', '')}",
        "cuda_runtime": scenario.framework_cuda,
        "available": usable > 0,
        "device_count": usable,
        "devices": [{"name": "NVIDIA H200", "capability": [9, 0]}] * usable,
    }
    if gpus and not runs:
        torch_info["error"] = "RuntimeError('The NVIDIA driver on your system is too old')"

    def probe(code: str) -> dict:
        if "import torch" in code:
            return dict(torch_info)
        return {"installed": False, "error": "not installed in this image"}

    return Context(
        env=env,
        root=root,
        which=lambda exe: str(smi) if exe == "nvidia-smi" and smi else None,
        nvml_loader=lambda: SimulatedNvml(
            scenario.host_gpus if gpus else 0, scenario.host_driver, library_present=bool(gpus and utility)
        ),
        probe=probe,
    )


def diagnose(scenario: Scenario) -> list[Check]:
    """The doctor's checks for ``scenario`` (a bad ``--gpus`` value becomes a failed check)."""
    try:
        scenario.container_env()
    except (GpusParseError, DaemonWouldReject, ValueError, TypeError) as exc:
        return [Check("docker run arguments", FAIL, str(exc), "Fix the command line first: see sections 1-4.")]
    with tempfile.TemporaryDirectory(prefix="gpu-lab-") as tmp:
        return run_checks(_context(scenario, Path(tmp)))


def lab_report(scenario: Scenario) -> str:
    """The doctor's report for ``scenario``, labelled as simulated."""
    args = " ".join(shlex.quote(a) for a in scenario.docker_args)
    head = (
        f"{SIMULATED}\ndocker run {args} ...  (host driver {scenario.host_driver}, "
        f"image built for CUDA {scenario.framework_cuda})\n"
    )
    return head + format_report(diagnose(scenario))


# The broken starting point of each lab step: what a learner meets, before any fix.
LAB_STEPS: dict[int, Scenario] = {
    1: Scenario(docker_args=("--gpus", "0")),
    2: Scenario(docker_args=("--gpus", 'all,"capabilities=compute"')),
    3: Scenario(docker_args=("--gpus", "all", "-e", "CUDA_VISIBLE_DEVICES=")),
    4: Scenario(docker_args=()),
    5: Scenario(host_driver="570.86.10", framework_cuda="13.0"),
}


def step(number: int, **changes) -> Scenario:
    """Lab step ``number``'s broken scenario, with ``changes`` applied (the learner's fix)."""
    if number not in LAB_STEPS:
        raise ValueError(f"there is no lab step {number}: the steps are {sorted(LAB_STEPS)}")
    return replace(LAB_STEPS[number], **changes)
