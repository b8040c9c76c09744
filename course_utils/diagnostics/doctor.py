"""``python -m course_utils doctor``: why is my GPU not detected?

Each check answers one question, passes or fails, and on failure says what to
do. The doctor itself never fails: it reports. Checks that need something
outside this process (PyTorch, TensorFlow, nvidia-smi) run it in a child
process with a timeout.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Literal

from ..telemetry.errors import NoGpuError
from ..telemetry.nvml import binding_versions, load_nvml
from ..telemetry.nvml_backend import NvmlBackend
from ..telemetry.select import CourseMode, course_mode, mode_banner
from .compat import check_compute_capability, check_runtime_on_driver
from .probes import TF_PROBE, TORCH_PROBE, run_probe

Status = Literal["pass", "fail", "warn", "skip", "info"]
PASS: Final = "pass"
FAIL: Final = "fail"
WARN: Final = "warn"
SKIP: Final = "skip"
INFO: Final = "info"
_MARK = {PASS: "[ ok ]", FAIL: "[FAIL]", WARN: "[warn]", SKIP: "[skip]", INFO: "[info]"}


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class Context:
    """What the checks look at; tests replace parts of it."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    root: Path = Path("/")
    nvml_loader: Callable = load_nvml
    probe: Callable[[str], dict] = run_probe
    which: Callable[[str], str | None] = shutil.which
    skip_frameworks: bool = False
    facts: dict = field(default_factory=dict)  # shared between checks


def check_binding(ctx: Context) -> Check:
    versions = binding_versions()
    if versions.official is None:
        return Check(
            "NVML Python binding",
            FAIL,
            "nvidia-ml-py is not installed",
            "pip install nvidia-ml-py  (it provides the `pynvml` module)",
        )
    if versions.deprecated_shim:
        return Check(
            "NVML Python binding",
            WARN,
            f"nvidia-ml-py {versions.official} is installed, and so is the deprecated `pynvml` package",
            "pip uninstall pynvml  (the PyPI package `pynvml` is a deprecated shim; "
            "nvidia-ml-py is the official binding)",
        )
    return Check("NVML Python binding", PASS, f"nvidia-ml-py {versions.official} (the `pynvml` module)")


def check_nvml(ctx: Context) -> Check:
    try:
        backend = NvmlBackend(nvml=ctx.nvml_loader())
    except NoGpuError as exc:
        ctx.facts["nvml_reason"] = exc.reason
        return Check(
            "NVIDIA driver and NVML",
            FAIL,
            exc.reason.message,
            exc.reason.fix,
            {"reason": exc.reason.code, "error": exc.reason.detail},
        )
    try:
        devices = backend.devices()
        snap = backend.snapshot()
        ctx.facts.update(
            driver=backend.driver_version,
            driver_cuda=backend.cuda_driver_version,
            gpus=[{"index": d.index, "name": d.name, "uuid": d.uuid} for d in devices],
            memory=[g.memory_total_mib for g in snap.gpus],
        )
        return Check(
            "NVIDIA driver and NVML",
            PASS,
            f"driver {backend.driver_version}, supports CUDA up to {backend.cuda_driver_version}",
            data={"driver": backend.driver_version, "cuda": backend.cuda_driver_version},
        )
    finally:
        backend.close()


def check_gpus(ctx: Context) -> Check:
    gpus = ctx.facts.get("gpus")
    if gpus is None:
        return Check("GPUs visible to NVML", SKIP, "NVML did not start (see above)")
    lines = [
        f"GPU {g['index']}: {g['name']} ({(m or 0) / 1024:.0f} GiB)"
        for g, m in zip(gpus, ctx.facts.get("memory", []), strict=False)
    ]
    return Check("GPUs visible to NVML", PASS, "; ".join(lines), data={"count": len(gpus)})


def check_nvidia_smi(ctx: Context) -> Check:
    exe = ctx.which("nvidia-smi")
    if exe is None:
        return Check(
            "nvidia-smi",
            WARN if not ctx.facts.get("gpus") else FAIL,
            "nvidia-smi is not on PATH",
            "It comes with the driver. In a container it is mounted only with the `utility` "
            "capability: NVIDIA_DRIVER_CAPABILITIES=compute,utility.",
        )
    try:
        proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return Check(
            "nvidia-smi",
            FAIL,
            "nvidia-smi -L hung for 20 s",
            "A hung nvidia-smi points at the driver: check `dmesg` for Xid errors on the host.",
        )
    if proc.returncode != 0:
        msg = (proc.stdout + proc.stderr).strip().splitlines()
        return Check(
            "nvidia-smi",
            FAIL,
            f"nvidia-smi -L failed: {msg[-1] if msg else proc.returncode}",
            "If it says 'Failed to initialize NVML: Unknown Error' inside a container, restart "
            "the container (known after `systemctl daemon-reload` on systemd-cgroup hosts).",
        )
    return Check("nvidia-smi", PASS, proc.stdout.strip().replace("\n", "; "))


def detect_container(ctx: Context) -> dict:
    root = ctx.root
    hints = []
    if (root / ".dockerenv").exists():
        hints.append("/.dockerenv")
    if (root / "run/.containerenv").exists():
        hints.append("/run/.containerenv (podman)")
    try:
        cgroup = (root / "proc/1/cgroup").read_text(errors="replace")
    except OSError:
        cgroup = ""
    for word in ("docker", "kubepods", "containerd", "libpod", "lxc"):
        if word in cgroup:
            hints.append(f"cgroup mentions {word}")
    if ctx.env.get("KUBERNETES_SERVICE_HOST"):
        hints.append("KUBERNETES_SERVICE_HOST is set")
    return {"in_container": bool(hints), "hints": hints}


def check_container(ctx: Context) -> Check:
    info = detect_container(ctx)
    ctx.facts["container"] = info
    if info["in_container"]:
        return Check("Running in a container", INFO, "yes: " + ", ".join(info["hints"]), data=info)
    return Check("Running in a container", INFO, "no container detected", data=info)


def check_container_env(ctx: Context) -> Check:
    visible = ctx.env.get("NVIDIA_VISIBLE_DEVICES")
    caps = ctx.env.get("NVIDIA_DRIVER_CAPABILITIES")
    in_container = ctx.facts.get("container", {}).get("in_container", False)
    data = {"NVIDIA_VISIBLE_DEVICES": visible, "NVIDIA_DRIVER_CAPABILITIES": caps}
    if not in_container:
        return Check(
            "NVIDIA_* variables",
            SKIP,
            "not in a container: these variables only steer the NVIDIA Container Toolkit",
            data=data,
        )
    if visible is None:
        return Check(
            "NVIDIA_* variables",
            WARN,
            "NVIDIA_VISIBLE_DEVICES is not set",
            "Start the container with `--gpus all` (or `--device nvidia.com/gpu=all` with CDI); "
            "CUDA base images set the variable, other images rely on --gpus.",
            data,
        )
    if visible.strip().lower() in ("void", "none", ""):
        return Check(
            "NVIDIA_* variables",
            FAIL,
            f"NVIDIA_VISIBLE_DEVICES={visible!r} hides every GPU",
            "Start the container with `--gpus all` or `--gpus '\"device=0,1\"'`.",
            data,
        )
    wanted = {"compute", "utility"}
    have = {c.strip() for c in (caps or "").split(",") if c.strip()}
    if caps is not None and "all" not in have and not wanted <= have:
        missing = ", ".join(sorted(wanted - have))
        return Check(
            "NVIDIA_* variables",
            FAIL,
            f"NVIDIA_DRIVER_CAPABILITIES={caps!r} lacks {missing}",
            "Use NVIDIA_DRIVER_CAPABILITIES=compute,utility (compute: CUDA; utility: nvidia-smi "
            "and NVML), e.g. `--gpus 'all,\"capabilities=compute,utility\"'`.",
            data,
        )
    return Check(
        "NVIDIA_* variables",
        PASS,
        f"NVIDIA_VISIBLE_DEVICES={visible}, NVIDIA_DRIVER_CAPABILITIES={caps or '(default: compute,utility)'}",
        data=data,
    )


_HIDES_ALL = ("", "-1", "none", "void", "nodevfiles")


def check_cuda_visible_devices(ctx: Context) -> Check:
    """CUDA_VISIBLE_DEVICES filters what CUDA (PyTorch, TensorFlow) sees inside the process;
    NVML and nvidia-smi ignore it, so they can list GPUs that the frameworks cannot use."""
    value = ctx.env.get("CUDA_VISIBLE_DEVICES")
    gpus = ctx.facts.get("gpus")
    data = {"CUDA_VISIBLE_DEVICES": value}
    if value is None:
        return Check("CUDA_VISIBLE_DEVICES", INFO, "not set: CUDA sees every GPU this process was given", data=data)
    if value.strip().lower() in _HIDES_ALL:
        status: Status = FAIL if gpus else INFO
        seen = f"; NVML still sees {len(gpus)} GPU(s)" if gpus else ""
        return Check(
            "CUDA_VISIBLE_DEVICES",
            status,
            f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU from CUDA{seen}",
            "Unset it (`unset CUDA_VISIBLE_DEVICES`, or drop `-e CUDA_VISIBLE_DEVICES=...`) or list the "
            "GPUs to use, e.g. CUDA_VISIBLE_DEVICES=0,1; set it before the framework starts CUDA.",
            data,
        )
    return Check(
        "CUDA_VISIBLE_DEVICES",
        INFO,
        f"CUDA sees only {value} (renumbered from 0 inside this process; NVML and nvidia-smi keep "
        "the container's numbering)",
        data=data,
    )


def check_device_nodes(ctx: Context) -> Check:
    dev = ctx.root / "dev"
    gpus = sorted(p.name for p in dev.glob("nvidia[0-9]*"))
    have = {p.name for p in dev.glob("nvidia*")}
    data = {"gpu_nodes": gpus, "control": "nvidiactl" in have, "uvm": "nvidia-uvm" in have}
    if not gpus and "nvidiactl" not in have:
        return Check(
            "/dev/nvidia* device files",
            FAIL if ctx.facts.get("gpus") is None else WARN,
            "no /dev/nvidia* device files",
            "The kernel driver is not loaded (host), or the container was started without GPUs (`--gpus all`).",
            data,
        )
    if "nvidia-uvm" not in have:
        return Check(
            "/dev/nvidia* device files",
            FAIL,
            f"{', '.join(gpus) or 'no GPU nodes'} present but /dev/nvidia-uvm is missing: CUDA "
            "cannot allocate memory without it",
            "On the host: `sudo nvidia-modprobe -u -c=0` (or `sudo modprobe nvidia-uvm`), then restart the container.",
            data,
        )
    return Check("/dev/nvidia* device files", PASS, ", ".join(sorted(have)), data=data)


def check_torch(ctx: Context) -> Check:
    if ctx.skip_frameworks:
        return Check("PyTorch sees CUDA", SKIP, "skipped (--no-frameworks)")
    info = ctx.probe(TORCH_PROBE)
    ctx.facts["torch"] = info
    if not info.get("installed"):
        return Check(
            "PyTorch sees CUDA",
            FAIL if info.get("installed") is None else SKIP,
            f"PyTorch: {info.get('error', 'not installed')}",
            "pip install torch (this course pins the version in pyproject.toml)",
            info,
        )
    if info.get("cuda_runtime") is None:
        return Check(
            "PyTorch sees CUDA",
            FAIL if ctx.facts.get("gpus") else INFO,
            f"torch {info['version']} is a CPU-only build",
            "Install a CUDA build: pip install torch --index-url "
            "https://download.pytorch.org/whl/cu130 (match the driver's CUDA version)",
            info,
        )
    if not info.get("available"):
        return Check(
            "PyTorch sees CUDA",
            FAIL if ctx.facts.get("gpus") else INFO,
            f"torch {info['version']} (CUDA {info['cuda_runtime']}) finds no usable GPU"
            + (f": {info['error']}" if info.get("error") else ""),
            "See the driver, device-file and compatibility checks above and below.",
            info,
        )
    names = ", ".join(d["name"] for d in info.get("devices", []))
    return Check(
        "PyTorch sees CUDA",
        PASS,
        f"torch {info['version']}, CUDA {info['cuda_runtime']}, {info['device_count']} GPU(s): {names}",
        data=info,
    )


def check_tensorflow(ctx: Context) -> Check:
    if ctx.skip_frameworks:
        return Check("TensorFlow sees GPUs", SKIP, "skipped (--no-frameworks)")
    info = ctx.probe(TF_PROBE)
    ctx.facts["tensorflow"] = info
    if not info.get("installed"):
        return Check(
            "TensorFlow sees GPUs",
            SKIP if info.get("installed") is False else FAIL,
            f"TensorFlow: {info.get('error', 'not installed')}",
            "pip install 'tensorflow[and-cuda]'  (not tensorflow-gpu, which no longer installs)",
            info,
        )
    if not info.get("built_with_cuda"):
        return Check(
            "TensorFlow sees GPUs",
            FAIL if ctx.facts.get("gpus") else INFO,
            f"TensorFlow {info['version']} is a CPU-only build",
            "For GPUs: pip install 'tensorflow[and-cuda]' (the wheels bring CUDA; the host needs only the driver).",
            info,
        )
    if not info.get("gpus"):
        return Check(
            "TensorFlow sees GPUs",
            FAIL if ctx.facts.get("gpus") else INFO,
            f"TensorFlow {info['version']} (CUDA {info.get('cuda_runtime')}) lists no GPU",
            "Install with the CUDA extra: pip install 'tensorflow[and-cuda]'.",
            info,
        )
    return Check("TensorFlow sees GPUs", PASS, f"TensorFlow {info['version']}: {len(info['gpus'])} GPU(s)", data=info)


def check_compat(ctx: Context) -> Check:
    driver, driver_cuda = ctx.facts.get("driver"), ctx.facts.get("driver_cuda")
    if driver is None:
        return Check("Driver vs CUDA runtime", SKIP, "no driver to compare with")
    results = []
    for framework in ("torch", "tensorflow"):
        runtime = (ctx.facts.get(framework) or {}).get("cuda_runtime")
        if runtime:
            res = check_runtime_on_driver(runtime, driver, driver_cuda)
            results.append((framework, res))
            for dev in (ctx.facts.get(framework) or {}).get("devices", []):
                results.append((framework, check_compute_capability(runtime, tuple(dev["capability"]))))
    if not results:
        return Check("Driver vs CUDA runtime", SKIP, "no CUDA build of PyTorch or TensorFlow to compare")
    bad = [(f, r) for f, r in results if not r.ok]
    if bad:
        return Check("Driver vs CUDA runtime", FAIL, "; ".join(f"{f}: {r.message}" for f, r in bad), bad[0][1].fix)
    return Check("Driver vs CUDA runtime", PASS, "; ".join(f"{f}: {r.message}" for f, r in results))


def check_cdi(ctx: Context) -> Check:
    specs = []
    for folder in ("etc/cdi", "var/run/cdi"):
        specs += glob.glob(str(ctx.root / folder / "*.yaml")) + glob.glob(str(ctx.root / folder / "*.json"))
    if specs:
        return Check("CDI specification (host side)", INFO, "found " + ", ".join(specs))
    return Check(
        "CDI specification (host side)",
        INFO,
        "none here (normal inside a container; on a Docker host, toolkit >= 1.18 writes "
        "/var/run/cdi/nvidia.yaml, listed by `nvidia-ctk cdi list`)",
    )


CHECKS: tuple[Callable[[Context], Check], ...] = (
    check_binding,
    check_nvml,
    check_gpus,
    check_nvidia_smi,
    check_container,
    check_container_env,
    check_cuda_visible_devices,
    check_device_nodes,
    check_torch,
    check_tensorflow,
    check_compat,
    check_cdi,
)


def run_checks(ctx: Context | None = None) -> list[Check]:
    """Run every check in order; a check that crashes becomes a failed check."""
    ctx = ctx or Context()
    results = []
    for check in CHECKS:
        try:
            results.append(check(ctx))
        except Exception as exc:
            results.append(
                Check(
                    check.__name__.removeprefix("check_"),
                    FAIL,
                    f"the check itself failed: {type(exc).__name__}: {exc}",
                    "Please report this with the output of `python -m course_utils doctor --json`.",
                )
            )
    return results


def format_report(results: list[Check], mode: tuple[CourseMode, str] | None = None) -> str:
    lines = ["GPU doctor", "=========="]
    for c in results:
        lines.append(f"{_MARK.get(c.status, c.status)} {c.name}: {c.detail}")
        if c.fix and c.status in (FAIL, WARN):
            lines.append(f"       fix: {c.fix}")
    if mode is not None:
        lines.append("")
        lines.append(mode_banner(*mode))
    failed = sum(c.status == FAIL for c in results)
    lines.append(f"{failed} check(s) failed." if failed else "No check failed.")
    return "\n".join(lines)


def doctor_report(as_json: bool = False, ctx: Context | None = None) -> str:
    results = run_checks(ctx)
    mode: tuple[CourseMode, str]
    try:
        mode = course_mode()
    except ValueError as exc:
        mode = ("cpu", str(exc))
    if as_json:
        return json.dumps(
            {"checks": [asdict(c) for c in results], "mode": mode[0], "mode_detail": mode[1]}, indent=2, default=str
        )
    return format_report(results, mode)
