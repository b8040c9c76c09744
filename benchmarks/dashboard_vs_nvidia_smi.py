"""Does the dashboard show what nvidia-smi shows? Real NVML, a training loop running, ~20 readings.

    python benchmarks/dashboard_vs_nvidia_smi.py [--readings 20] [--json-out docs/results/dashboard_vs_smi.json]

Needs a GPU, torch, nvidia-ml-py and course_utils; no Jupyter (it uses the
dashboard's *model*, fed by the course's sampler, exactly as the live widget is).

A training loop (bf16 MLP, alternating ~2 s of work with ~0.7 s of rest so the
utilisation moves) runs on GPU 0 in a thread. At each reading the script takes
the model's rows, runs ``nvidia-smi --query-gpu`` (about 40 ms), takes the
model's rows again, and compares nvidia-smi with the model reading closest in
time to the middle of the nvidia-smi call:

* memory used: must agree within 1% of the value (both read NVML's memory
  counters; the v2 call is what current nvidia-smi shows);
* utilisation and power: NVML averages these over a window (utilisation 1/6 s
  to 1 s depending on the GPU, power 1 s on Ampere and newer), so two reads a
  few tens of milliseconds apart can differ while the load changes. They agree
  when nvidia-smi's value lies within the range the model read over the last
  second (its own readings every 0.1 s), with a margin of 1 point of
  utilisation (integer percent) or 2% of the power value;
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.telemetry import Sampler, open_backend  # noqa: E402
from course_utils.widgets.model import DashboardModel  # noqa: E402

SMI_FIELDS = ("index", "memory.used", "memory.total", "utilization.gpu", "power.draw", "temperature.gpu", "clocks.sm")
MEMORY_TOLERANCE_PCT = 1.0
UTIL_MARGIN_PCT_POINTS = 1.0
POWER_MARGIN_PCT = 2.0
AVERAGING_WINDOW_S = 1.0
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
    out = subprocess.run([exe, f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    t1 = time.time()
    rows = {}
    for fields in csv.reader(io.StringIO(out)):
        if len(fields) != len(SMI_FIELDS):
            continue
        values = dict(zip(SMI_FIELDS, (_float(f) for f in fields), strict=True))
        rows[int(values["index"])] = values
    return (t0 + t1) / 2, rows


def train(stop: threading.Event, ready: threading.Event, stats: dict, device: str = "cuda:0",
          width: int = 8192) -> None:
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
            stats["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 1024**3
    except Exception as exc:  # reported by the main thread
        stats["error"] = f"{type(exc).__name__}: {exc}"
        ready.set()


def model_reading(model: DashboardModel, index: int) -> dict | None:
    rows = {r.index: r for r in model.rows()}
    r = rows.get(index)
    if r is None:
        return None
    recent = [x for x in model.recent(index) if x.timestamp >= (model.timestamp or 0) - AVERAGING_WINDOW_S]
    return {
        "timestamp": model.timestamp,
        "memory_used_mib": None if r.memory_used_gib is None else r.memory_used_gib * 1024,
        "memory_total_mib": None if r.memory_total_gib is None else r.memory_total_gib * 1024,
        "utilization_pct": r.utilization_pct, "power_w": r.power_w, "temperature_c": r.temperature_c,
        "sm_clock_mhz": r.sm_clock_mhz,
        "util_last_1s": [x.utilization_pct for x in recent if x.utilization_pct is not None],
        "power_last_1s": [x.power_w for x in recent if x.power_w is not None],
    }


def compare(smi: dict, m: dict) -> dict:
    out: dict = {}
    if smi["memory.used"] is not None and m["memory_used_mib"] is not None:
        diff = m["memory_used_mib"] - smi["memory.used"]
        out["memory_diff_mib"] = round(diff, 1)
        # nvidia-smi prints whole MiB: allow that rounding on top of the 1%
        out["memory_diff_pct"] = round(100.0 * abs(diff) / max(smi["memory.used"], 1.0), 3)
        out["memory_ok"] = abs(diff) <= max(MEMORY_TOLERANCE_PCT / 100 * smi["memory.used"], 1.0)
    if smi["utilization.gpu"] is not None and m["util_last_1s"]:
        lo, hi = min(m["util_last_1s"]), max(m["util_last_1s"])
        u = smi["utilization.gpu"]
        out["util_diff"] = round((m["utilization_pct"] or 0) - u, 1)
        out["util_outside_window_points"] = round(max(0.0, lo - u, u - hi), 1)
        out["util_ok"] = out["util_outside_window_points"] <= UTIL_MARGIN_PCT_POINTS
    if smi["power.draw"] is not None and m["power_last_1s"]:
        lo, hi = min(m["power_last_1s"]), max(m["power_last_1s"])
        p = smi["power.draw"]
        out["power_diff_w"] = round((m["power_w"] or 0) - p, 1)
        outside = max(0.0, lo - p, p - hi)
        out["power_outside_window_pct"] = round(100.0 * outside / max(p, 1.0), 2)
        out["power_ok"] = out["power_outside_window_pct"] <= POWER_MARGIN_PCT
    for key, smi_key in (("temperature_c", "temperature.gpu"), ("sm_clock_mhz", "clocks.sm")):
        if smi[smi_key] is not None and m[key] is not None:
            out[f"{key}_diff"] = round(m[key] - smi[smi_key], 1)
    return out


def run(readings: int, gap_s: float, *, backend=None, smi: str | None = None, device: str = "cuda:0",
        width: int = 8192, settle_s: float = 3.0) -> dict:
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
    stop, ready, stats = threading.Event(), threading.Event(), {}
    trainer = threading.Thread(target=train, args=(stop, ready, stats, device, width), name="training-loop",
                               daemon=True)
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
            t_mid, smi = query_smi(exe)
            after = {d.index: model_reading(model, d.index) for d in devices}
            for d in devices:
                if d.index not in smi or before[d.index] is None:
                    continue
                # the model reading closest in time to nvidia-smi's
                m = min((before[d.index], after[d.index]), key=lambda r: abs(r["timestamp"] - t_mid))
                pairs.append({"reading": i, "gpu": d.index, "t_s": round(t_mid - started, 3),
                              "model_age_s": round(t_mid - m["timestamp"], 3), "nvidia_smi": smi[d.index],
                              "model": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in m.items()
                                        if k not in ("util_last_1s", "power_last_1s")},
                              "model_last_1s": {"utilization_pct": m["util_last_1s"], "power_w": m["power_last_1s"]},
                              **compare(smi[d.index], m)})
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
        checks[name] = {"readings": len(judged), "agree": sum(judged),
                                           "all_agree": bool(judged) and all(judged)}
    return {
        "date": date.today().isoformat(), "host": platform.node(), "python": platform.python_version(),
        "torch": torch.__version__, "driver": backend.driver_version, "gpus": [d.name for d in devices],
        "sample_interval_s": SAMPLE_INTERVAL_S, "seconds": round(seconds, 1), "training_steps": stats.get("steps"),
        "training_peak_allocated_gib": round(stats.get("peak_allocated_gib", 0.0), 2),
        "criteria": {"memory": f"within {MEMORY_TOLERANCE_PCT}% of nvidia-smi's value (or 1 MiB)",
                     "utilization": f"nvidia-smi's value within the model's range over the last "
                                    f"{AVERAGING_WINDOW_S} s, +/- {UTIL_MARGIN_PCT_POINTS} point",
                     "power": f"nvidia-smi's value within the model's range over the last {AVERAGING_WINDOW_S} s, "
                              f"+/- {POWER_MARGIN_PCT}%"},
        "checks": checks,
        "max_abs": {k: _max(pairs, k) for k in ("memory_diff_mib", "memory_diff_pct", "util_diff",
                                                 "util_outside_window_points", "power_diff_w",
                                                 "power_outside_window_pct", "temperature_c_diff",
                                                 "sm_clock_mhz_diff", "model_age_s")},
        "max_abs_gpu0_training": {k: _max(pairs, k, gpu=devices[0].index)
                                  for k in ("memory_diff_pct", "util_diff", "power_diff_w")},
        "pairs": pairs,
    }


def _n(value, spec: str = ".0f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_table(r: dict) -> str:
    lines = [f"dashboard model vs nvidia-smi: {r['gpus'][0]} x{len(r['gpus'])}, driver {r['driver']}, torch "
             f"{r['torch']}, {len([p for p in r['pairs'] if p['gpu'] == 0])} readings in {r['seconds']} s",
             f"{'#':>3} {'gpu':>3} {'t s':>6} {'mem smi':>9} {'mem model':>10} {'d%':>6} {'util smi':>8} "
             f"{'model':>6} {'1s range':>10} {'pow smi':>8} {'model':>7} {'ok':>4}"]
    for p in r["pairs"]:
        s, m = p["nvidia_smi"], p["model"]
        window = p["model_last_1s"]["utilization_pct"]
        rng = f"{min(window):.0f}-{max(window):.0f}" if window else "n/a"
        ok = all(p.get(k, True) for k in ("memory_ok", "util_ok", "power_ok"))
        lines.append(f"{p['reading']:>3} {p['gpu']:>3} {p['t_s']:>6.1f} {_n(s['memory.used']):>9} "
                     f"{_n(m['memory_used_mib']):>10} {p.get('memory_diff_pct', 0):>6.2f} "
                     f"{_n(s['utilization.gpu']):>8} {_n(m['utilization_pct']):>6} {rng:>10} "
                     f"{_n(s['power.draw'], '.1f'):>8} {_n(m['power_w'], '.1f'):>7} {'yes' if ok else 'NO':>4}")
    c = r["checks"]
    lines.append("agreement: " + ", ".join(f"{k} {v['agree']}/{v['readings']}" for k, v in c.items()))
    lines.append(f"largest deviations: {json.dumps(r['max_abs'])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=20, help="readings to compare (default 20)")
    parser.add_argument("--gap", type=float, default=0.8, help="seconds between readings (default 0.8)")
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
