"""How much does watching a GPU cost?

Figures, measured in one run so they compare fairly:

* ``snapshot_us_ours``: one ``backend.snapshot()`` of 5 metric groups (memory,
  utilisation, temperature, power, SM clock) for every GPU read;
* ``snapshot_us_raw_nvml``: the same NVML calls made directly, with handles
  fetched beforehand (the floor our backend is measured against);
* ``sampler_cpu_pct_{1,10,100}hz``: CPU time of the sampler thread as a share
  of one core;
* ``nvidia_smi_ms``: one ``nvidia-smi --query-gpu`` subprocess.

Without a GPU the simulated backend is measured and the NVML figures are None.
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import time
from datetime import date
from pathlib import Path

from ..inputs import output_file, write_error
from ..telemetry import Backend, NoGpuError, NvmlBackend, Sampler, SimulatedBackend
from ..telemetry.nvml import load_nvml
from ..telemetry.simulated_backend import MAX_GPUS


def _median_us(fn, repeat: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    # time batches of calls: a single call is near the timer's resolution
    batch = 20
    samples = []
    for _ in range(max(1, repeat // batch)):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples) * 1e6


def raw_nvml_reader(nvml, indices):
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
    v2 = nvml.nvmlMemory_v2
    temp, clock = nvml.NVML_TEMPERATURE_GPU, nvml.NVML_CLOCK_SM

    def read():
        for h in handles:
            nvml.nvmlDeviceGetMemoryInfo(h, version=v2)
            nvml.nvmlDeviceGetUtilizationRates(h)
            nvml.nvmlDeviceGetTemperature(h, temp)
            nvml.nvmlDeviceGetPowerUsage(h)
            nvml.nvmlDeviceGetClockInfo(h, clock)

    return read


def sampler_cpu_pct(backend: Backend, hz: float, seconds: float) -> float:
    """CPU share of one core used by a sampler thread at ``hz``, from the thread's
    own CPU clock (process-wide CPU time on a small VM is too noisy for 0.1%)."""
    sampler = Sampler(backend, interval=1.0 / hz, name=None, capacity=1000)
    wall0 = time.perf_counter()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    return 100.0 * sampler.cpu_time_s / (time.perf_counter() - wall0)


def nvidia_smi_ms(repeat: int) -> float | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    cmd = [
        exe,
        "--query-gpu=memory.used,utilization.gpu,temperature.gpu,power.draw,clocks.sm",
        "--format=csv,noheader,nounits",
    ]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def run(gpus: int | None = None, simulate: int | None = None, quick: bool = False) -> dict:
    repeat = 400 if quick else 4000
    seconds = {1: 3.0, 10: 3.0, 100: 2.0} if quick else {1: 10.0, 10: 10.0, 100: 5.0}
    result: dict = {"date": date.today().isoformat(), "host": platform.node(), "python": platform.python_version()}
    backend: NvmlBackend | SimulatedBackend | None = None
    if simulate is None:
        try:
            nvml = load_nvml()
            probe = NvmlBackend(nvml=nvml)
            count = probe.device_count()
            probe.close()
            indices = list(range(count if gpus is None else min(gpus, count)))
            backend = NvmlBackend(indices=indices, nvml=nvml)
            result.update(
                backend="nvml", gpus=len(indices), gpu_name=backend.devices()[0].name, driver=backend.driver_version
            )
            result["snapshot_us_raw_nvml"] = _median_us(raw_nvml_reader(nvml, indices), repeat)
        except NoGpuError as exc:
            result["nvml_unavailable"] = exc.reason.message
    if backend is None:
        backend = SimulatedBackend(simulate or min(gpus or 2, MAX_GPUS), seed=0)
        result.update(backend="simulated", gpus=backend.device_count(), gpu_name="simulated", snapshot_us_raw_nvml=None)
    try:
        result["snapshot_us_ours"] = _median_us(backend.snapshot, repeat)
        if result.get("snapshot_us_raw_nvml"):
            result["ratio_ours_to_raw"] = result["snapshot_us_ours"] / result["snapshot_us_raw_nvml"]
        for hz, secs in seconds.items():
            result[f"sampler_cpu_pct_{hz}hz"] = sampler_cpu_pct(backend, hz, secs)
        result["nvidia_smi_ms"] = nvidia_smi_ms(5 if quick else 20) if result["backend"] == "nvml" else None
    finally:
        backend.close()
    return result


def format_result(r: dict) -> str:
    def f(key, unit, fmt=".1f"):
        v = r.get(key)
        return f"{v:{fmt}} {unit}" if isinstance(v, (int, float)) else "not measured"

    lines = [
        f"telemetry benchmark: {r['backend']} backend, {r['gpus']} GPU(s) ({r.get('gpu_name')}), {r['date']}",
        f"  one snapshot, ours (5 metric groups)   {f('snapshot_us_ours', 'us')}",
        f"  same NVML calls, raw                   {f('snapshot_us_raw_nvml', 'us')}",
        f"  ratio ours / raw                       {f('ratio_ours_to_raw', 'x', '.2f')}",
        f"  sampler CPU at 1 / 10 / 100 Hz         {f('sampler_cpu_pct_1hz', '%', '.3f')} / "
        f"{f('sampler_cpu_pct_10hz', '%', '.3f')} / {f('sampler_cpu_pct_100hz', '%', '.3f')} of one core",
        f"  nvidia-smi --query-gpu subprocess      {f('nvidia_smi_ms', 'ms')}",
        "  reference (docs/gpu-figures.md, 2x H200): raw 20 us for 2 GPUs; sampler 0.05/0.28/1.6 %; nvidia-smi 40 ms",
    ]
    ratio, cpu10 = r.get("ratio_ours_to_raw"), r.get("sampler_cpu_pct_10hz")
    if ratio is not None:
        lines.append(f"  target: snapshot <= 2x raw NVML ... {'met' if ratio <= 2 else 'MISSED'} ({ratio:.2f}x)")
    if cpu10 is not None:
        lines.append(f"  target: sampler at 10 Hz < 0.5% of a core ... {'met' if cpu10 < 0.5 else 'MISSED'}")
    if r.get("nvml_unavailable"):
        lines.append(f"  NVML not measured: {r['nvml_unavailable']}")
    return "\n".join(lines)


def main(gpus=None, simulate=None, json_out=None, quick=False) -> int:
    if json_out:
        output_file(json_out, "--json-out")  # before minutes of measuring, not after
    result = run(gpus=gpus, simulate=simulate, quick=quick)
    print(format_result(result))
    if json_out:
        path = Path(json_out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            raise write_error("--json-out", json_out, exc) from None
    return 0
