"""Does the dashboard show what nvidia-smi shows? Real NVML, a training loop running, ~20 readings.

    python benchmarks/dashboard_vs_nvidia_smi.py [--readings 20] [--json-out docs/results/dashboard_vs_smi.json]

Needs a GPU, torch, nvidia-ml-py and course_utils; no Jupyter (it uses the
dashboard's *model*, fed by the course's sampler, exactly as the live widget is).

A training loop (bf16 MLP, alternating ~2 s of work with ~0.7 s of rest so the
utilisation moves) runs on GPU 0 in a thread. At each reading the script takes
the model's rows, runs ``nvidia-smi --query-gpu`` (about 40 ms), takes the
model's rows again, waits one more second, and compares nvidia-smi with the
model:

* memory used: the model reading closest in time to the middle of the
  nvidia-smi call must agree within 1% of the value (both read NVML's memory
  counters; the v2 call is what current nvidia-smi shows);
* utilisation and power: NVML averages these over a window (utilisation 1/6 s
  to 1 s depending on the GPU, power 1 s on Ampere and newer) and updates them
  every few tens of milliseconds, so on a bursty load two reads close in time
  differ. nvidia-smi's value is judged against the *spread* of the model's own
  samples (every 0.1 s) in a window of +/- 1 s *centred* on the nvidia-smi
  read: it agrees when it lies within [lowest, highest] of those samples, with a
  margin of 2 points of utilisation (integer percent) or 3% of the power value.
  (A window that ended at the model's reading missed the samples after the
  read: on a rising ramp nvidia-smi's newer value lay above all of them.) A
  value outside the spread is a real disagreement: a wrong GPU, unit or scale,
  or a stale reading;
* temperature and SM clock are reported for information.

Writes the per-reading pairs and the largest deviations to the JSON file and
prints a table. Takes about 30-40 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.telemetry import Sampler, open_backend  # noqa: E402
from course_utils.units import GIB  # noqa: E402
from course_utils.widgets.model import DashboardModel  # noqa: E402

SMI_FIELDS = ("index", "memory.used", "memory.total", "utilization.gpu", "power.draw", "temperature.gpu", "clocks.sm")
MEMORY_TOLERANCE_PCT = 1.0
UTIL_MARGIN_PCT_POINTS = 2.0
POWER_MARGIN_PCT = 3.0
WINDOW_HALF_S = 1.0  # the comparison window: +/- this around the nvidia-smi read (NVML averages over up to 1 s)
SAMPLE_INTERVAL_S = 0.1


def _float(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def query_smi(exe: str) -> tuple[float, dict[int, dict]]:
    """One ``nvidia-smi --query-gpu`` call: (middle of the call, {gpu: values})."""
    t0 = time.time()
    out = subprocess.run(
        [exe, f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    t1 = time.time()
    rows = {}
    for fields in csv.reader(io.StringIO(out)):
        if len(fields) != len(SMI_FIELDS):
            continue
        values = dict(zip(SMI_FIELDS, (_float(f) for f in fields), strict=True))
        if values["index"] is not None:  # a row without a GPU index cannot be paired
            rows[int(values["index"])] = values
    return (t0 + t1) / 2, rows


def train(
    stop: threading.Event, ready: threading.Event, stats: dict, device: str = "cuda:0", width: int = 8192
) -> None:
    """A small bf16 training loop with rests, so memory is steady and utilisation moves."""
    import torch

    try:
        torch.manual_seed(0)
        on_gpu = device.startswith("cuda")
        layers = []
        for _ in range(4):
            layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-4)
        x = torch.randn(width // 2, width, device=device)
        y = torch.randn(width // 2, width, device=device)
        work_until = time.monotonic() + 2.0
        while not stop.is_set():
            with torch.autocast("cuda" if on_gpu else "cpu", dtype=torch.bfloat16):
                loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_gpu:
                torch.cuda.synchronize(device)
            stats["steps"] = stats.get("steps", 0) + 1
            ready.set()
            if time.monotonic() > work_until:
                stop.wait(0.7)  # rest: utilisation falls, power follows
                work_until = time.monotonic() + 2.0
        if on_gpu:
            stats["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
    except Exception as exc:  # reported by the main thread
        stats["error"] = f"{type(exc).__name__}: {exc}"
        ready.set()


def model_reading(model: DashboardModel, index: int) -> dict | None:
    """The model's current values for one GPU (what the dashboard shows now)."""
    rows = {r.index: r for r in model.rows()}
    r = rows.get(index)
    if r is None:
        return None
    return {
        "timestamp": model.timestamp,
        "memory_used_mib": None if r.memory_used_gib is None else r.memory_used_gib * 1024,
        "memory_total_mib": None if r.memory_total_gib is None else r.memory_total_gib * 1024,
        "utilization_pct": r.utilization_pct,
        "power_w": r.power_w,
        "temperature_c": r.temperature_c,
        "sm_clock_mhz": r.sm_clock_mhz,
    }


def window(readings, t_mid: float, field: str, half_s: float = WINDOW_HALF_S) -> list[float]:
    """The model's samples of ``field`` within +/- ``half_s`` of ``t_mid`` (readings: .timestamp, .FIELD)."""
    return [getattr(r, field) for r in readings if abs(r.timestamp - t_mid) <= half_s and getattr(r, field) is not None]


def judge(value: float, samples: list[float], abs_margin: float, rel_margin_pct: float = 0.0) -> dict:
    """Does ``value`` (nvidia-smi) lie within the spread of ``samples`` (the model, around the same
    moment), give or take a margin? Returns the spread, how far outside it the value is, and ok."""
    lo, hi = min(samples), max(samples)
    outside = max(0.0, lo - value, value - hi)
    margin = max(abs_margin, rel_margin_pct / 100 * abs(value))
    return {"lo": lo, "hi": hi, "outside": round(outside, 2), "ok": outside <= margin}


def compare(smi: dict, m: dict, util_window: list[float], power_window: list[float]) -> dict:
    """nvidia-smi vs the model: memory against the closest reading ``m``, utilisation and power
    against the spread of the model's samples in the window centred on the nvidia-smi read."""
    out: dict = {}
    if smi["memory.used"] is not None and m["memory_used_mib"] is not None:
        diff = m["memory_used_mib"] - smi["memory.used"]
        out["memory_diff_mib"] = round(diff, 1)
        # nvidia-smi prints whole MiB: allow that rounding on top of the 1%
        out["memory_diff_pct"] = round(100.0 * abs(diff) / max(smi["memory.used"], 1.0), 3)
        out["memory_ok"] = abs(diff) <= max(MEMORY_TOLERANCE_PCT / 100 * smi["memory.used"], 1.0)
    if smi["utilization.gpu"] is not None and util_window:
        u = smi["utilization.gpu"]
        verdict = judge(u, util_window, UTIL_MARGIN_PCT_POINTS)
        out["util_diff"] = round((m["utilization_pct"] or 0) - u, 1)
        out["util_outside_window_points"] = verdict["outside"]
        out["util_ok"] = verdict["ok"]
    if smi["power.draw"] is not None and power_window:
        p = smi["power.draw"]
        verdict = judge(p, power_window, 0.0, POWER_MARGIN_PCT)
        out["power_diff_w"] = round((m["power_w"] or 0) - p, 1)
        out["power_outside_window_pct"] = round(100.0 * verdict["outside"] / max(p, 1.0), 2)
        out["power_ok"] = verdict["ok"]
    for key, smi_key in (("temperature_c", "temperature.gpu"), ("sm_clock_mhz", "clocks.sm")):
        if smi[smi_key] is not None and m[key] is not None:
            out[f"{key}_diff"] = round(m[key] - smi[smi_key], 1)
    return out


def run(
    readings: int,
    gap_s: float,
    *,
    backend=None,
    smi: str | None = None,
    device: str = "cuda:0",
    width: int = 8192,
    settle_s: float = 3.0,
    window_half_s: float = WINDOW_HALF_S,
) -> dict:
    """Compare; ``backend``, ``smi``, ``device`` and ``width`` are for the test that runs this without a GPU
    (a fake NVML, a fake nvidia-smi, a tiny CPU loop)."""
    exe = smi or shutil.which("nvidia-smi")
    backend = backend or open_backend(mode="real")
    if backend.kind != "nvml":
        raise SystemExit(f"no GPU to compare against: {backend.reason}")
    if exe is None:
        raise SystemExit("nvidia-smi is not on PATH: install the NVIDIA driver utilities (or run on the host)")
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA GPU: the training loop cannot run")
    devices = backend.devices()
    sampler = Sampler(backend, interval=SAMPLE_INTERVAL_S, name="vs-nvidia-smi")
    model = DashboardModel(interval=SAMPLE_INTERVAL_S, recent=int(3 / SAMPLE_INTERVAL_S)).attach(sampler)
    stop, ready = threading.Event(), threading.Event()
    stats: dict[str, Any] = {}
    trainer = threading.Thread(
        target=train, args=(stop, ready, stats, device, width), name="training-loop", daemon=True
    )
    started = time.time()
    pairs = []
    try:
        sampler.start()
        trainer.start()
        if not ready.wait(120) or "error" in stats:
            raise SystemExit(f"the training loop did not start: {stats.get('error', 'timed out')}")
        time.sleep(settle_s)  # the allocator's cache has grown: memory is steady from here
        for i in range(readings):
            before = {d.index: model_reading(model, d.index) for d in devices}
            t_mid, smi_rows = query_smi(exe)
            after = {d.index: model_reading(model, d.index) for d in devices}
            time.sleep(window_half_s + 2 * SAMPLE_INTERVAL_S)  # the samples after the read, for the window
            for d in devices:
                first, last = before[d.index], after[d.index]
                if d.index not in smi_rows or first is None or last is None:
                    continue
                # memory: the model reading closest in time to nvidia-smi's
                m = min((first, last), key=lambda r: abs(r["timestamp"] - t_mid))
                recent = model.recent(d.index)
                util_w = window(recent, t_mid, "utilization_pct", window_half_s)
                power_w = window(recent, t_mid, "power_w", window_half_s)
                pairs.append(
                    {
                        "reading": i,
                        "gpu": d.index,
                        "t_s": round(t_mid - started, 3),
                        "model_age_s": round(t_mid - m["timestamp"], 3),
                        "nvidia_smi": smi_rows[d.index],
                        "model": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in m.items()},
                        "model_window": {"utilization_pct": util_w, "power_w": power_w},
                        **compare(smi_rows[d.index], m, util_w, power_w),
                    }
                )
            time.sleep(gap_s)
    finally:
        stop.set()
        trainer.join(30)
        sampler.close()
        backend.close()
    if "error" in stats:
        raise SystemExit(f"the training loop failed: {stats['error']}")
    return summarise(pairs, devices, backend, stats, time.time() - started)


def _max(pairs, key, gpu=None):
    values = [abs(p[key]) for p in pairs if key in p and (gpu is None or p["gpu"] == gpu)]
    return max(values) if values else None


def summarise(pairs, devices, backend, stats, seconds) -> dict:
    import torch

    checks = {}
    for name, key in (("memory", "memory_ok"), ("utilization", "util_ok"), ("power", "power_ok")):
        judged = [p[key] for p in pairs if key in p]
        checks[name] = {"readings": len(judged), "agree": sum(judged), "all_agree": bool(judged) and all(judged)}
    return {
        "date": date.today().isoformat(),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "driver": backend.driver_version,
        "gpus": [d.name for d in devices],
        "sample_interval_s": SAMPLE_INTERVAL_S,
        "seconds": round(seconds, 1),
        "training_steps": stats.get("steps"),
        "training_peak_allocated_gib": round(stats.get("peak_allocated_gib", 0.0), 2),
        "criteria": {
            "memory": f"within {MEMORY_TOLERANCE_PCT}% of nvidia-smi's value (or 1 MiB)",
            "utilization": f"nvidia-smi's value within the spread of the model's samples in "
            f"+/- {WINDOW_HALF_S} s around the nvidia-smi read, +/- {UTIL_MARGIN_PCT_POINTS} "
            "points",
            "power": f"nvidia-smi's value within the spread of the model's samples in +/- {WINDOW_HALF_S} s "
            f"around the nvidia-smi read, +/- {POWER_MARGIN_PCT}%",
        },
        "checks": checks,
        "max_abs": {
            k: _max(pairs, k)
            for k in (
                "memory_diff_mib",
                "memory_diff_pct",
                "util_diff",
                "util_outside_window_points",
                "power_diff_w",
                "power_outside_window_pct",
                "temperature_c_diff",
                "sm_clock_mhz_diff",
                "model_age_s",
            )
        },
        "max_abs_gpu0_training": {
            k: _max(pairs, k, gpu=devices[0].index) for k in ("memory_diff_pct", "util_diff", "power_diff_w")
        },
        "pairs": pairs,
    }


def _n(value, spec: str = ".0f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_table(r: dict) -> str:
    lines = [
        f"dashboard model vs nvidia-smi: {r['gpus'][0]} x{len(r['gpus'])}, driver {r['driver']}, torch "
        f"{r['torch']}, {len([p for p in r['pairs'] if p['gpu'] == 0])} readings in {r['seconds']} s",
        f"{'#':>3} {'gpu':>3} {'t s':>6} {'mem smi':>9} {'mem model':>10} {'d%':>6} {'util smi':>8} "
        f"{'model':>6} {'+/-1s':>10} {'pow smi':>8} {'model':>7} {'ok':>4}",
    ]
    for p in r["pairs"]:
        s, m = p["nvidia_smi"], p["model"]
        spread = p["model_window"]["utilization_pct"]
        rng = f"{min(spread):.0f}-{max(spread):.0f}" if spread else "n/a"
        ok = all(p.get(k, True) for k in ("memory_ok", "util_ok", "power_ok"))
        lines.append(
            f"{p['reading']:>3} {p['gpu']:>3} {p['t_s']:>6.1f} {_n(s['memory.used']):>9} "
            f"{_n(m['memory_used_mib']):>10} {p.get('memory_diff_pct', 0):>6.2f} "
            f"{_n(s['utilization.gpu']):>8} {_n(m['utilization_pct']):>6} {rng:>10} "
            f"{_n(s['power.draw'], '.1f'):>8} {_n(m['power_w'], '.1f'):>7} {'yes' if ok else 'NO':>4}"
        )
    c = r["checks"]
    lines.append("agreement: " + ", ".join(f"{k} {v['agree']}/{v['readings']}" for k, v in c.items()))
    lines.append(f"largest deviations: {json.dumps(r['max_abs'])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=20, help="readings to compare (default 20)")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between readings (default 0.3)")
    parser.add_argument("--json-out", default=str(ROOT / "docs" / "results" / "dashboard_vs_smi.json"))
    args = parser.parse_args(argv)
    if not 1 <= args.readings <= 200:
        parser.error("--readings takes 1 to 200")
    result = run(args.readings, args.gap)
    print(format_table(result))
    path = Path(args.json_out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0 if all(v["all_agree"] for v in result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
