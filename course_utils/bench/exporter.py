"""What does publishing the GPU metrics to Prometheus cost?

Two child processes run one after the other, each for the same time:

* ``sampler``: the sampler alone (``interval`` seconds, default 1);
* ``exporter``: the same sampler plus the exporter, scraped once a second the
  way Prometheus scrapes (its Accept headers, gzip).

The child's CPU time (user + system, from /proc through psutil) over the
window gives each one's share of a core; the difference is the exporter's
cost. Scrape response times are measured by the client. Separately, one
collect + text rendering is timed in this process on its thread's CPU clock
(``collect_us``), the part of a scrape that grows with the number of GPUs.

    python benchmarks/prometheus_exporter_bench.py --simulate 8          # CPU machine
    python benchmarks/prometheus_exporter_bench.py                       # real GPUs (NVML)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import psutil

# what Prometheus 2.x sends with every scrape
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
TARGET_PCT = 0.2


def _open(simulate: int | None):
    from ..telemetry import no_gpu_reason, open_backend

    backend = open_backend(simulate=simulate) if simulate else open_backend("real")
    reason = no_gpu_reason(backend)
    if reason is not None:
        raise SystemExit(f"no GPU to read: {reason} Use --simulate N on a machine without GPUs.")
    return backend


def serve(mode: str, simulate: int | None, interval: float) -> int:
    """The child: run the sampler (and the exporter), print the port, wait for SIGTERM."""
    from ..telemetry import Sampler
    from ..telemetry.prometheus import start_exporter

    backend = _open(simulate)
    sampler = Sampler(backend, interval=interval, name=None, processes_every=5).start()
    port = start_exporter(sampler, "127.0.0.1:0").port if mode == "exporter" else 0
    print(
        json.dumps(
            {
                "port": port,
                "gpus": backend.device_count(),
                "label": backend.label,
                "gpu_name": backend.devices()[0].name,
            }
        ),
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def _child(mode: str, simulate: int | None, interval: float):
    cmd = [sys.executable, "-m", "course_utils.bench.exporter", "--serve", mode, "--interval", str(interval)]
    if simulate:
        cmd += ["--simulate", str(simulate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout is not None else ""  # a pipe: never None
    if not line:
        proc.wait(10)
        raise RuntimeError(f"the benchmark child ({mode}) exited with {proc.returncode} before starting")
    return proc, json.loads(line)


def measure(mode: str, simulate: int | None, interval: float, seconds: float, scrape_every: float = 1.0) -> dict:
    proc, info = _child(mode, simulate, interval)
    try:
        ps = psutil.Process(proc.pid)
        url = f"http://127.0.0.1:{info['port']}/metrics"
        time.sleep(2.0)  # imports and the first samples are not the steady state
        latencies, sizes = [], []
        cpu0, wall0 = sum(ps.cpu_times()[:2]), time.monotonic()
        next_scrape = wall0
        while time.monotonic() - wall0 < seconds:
            if mode == "exporter":
                start = time.perf_counter()
                with urllib.request.urlopen(urllib.request.Request(url, headers=SCRAPE_HEADERS), timeout=5) as r:
                    sizes.append(len(r.read()))
                latencies.append(time.perf_counter() - start)
            next_scrape += scrape_every
            time.sleep(max(0.0, next_scrape - time.monotonic()))
        cpu1, wall1 = sum(ps.cpu_times()[:2]), time.monotonic()
    finally:
        proc.terminate()
        proc.wait(10)
    result = {"cpu_pct": 100.0 * (cpu1 - cpu0) / (wall1 - wall0), "seconds": wall1 - wall0, **info}
    if latencies:
        result.update(
            scrapes=len(latencies),
            response_ms_median=statistics.median(latencies) * 1e3,
            response_ms_max=max(latencies) * 1e3,
            response_bytes=statistics.median(sizes),
        )
    return result


def collect_cost_us(simulate: int | None, repeat: int = 300) -> tuple[float, int]:
    """CPU microseconds of one collect + text rendering, and the text's size."""
    from prometheus_client.exposition import generate_latest

    from ..telemetry import Sampler
    from ..telemetry.prometheus import SnapshotCollector

    backend = _open(simulate)
    try:
        sampler = Sampler(backend, interval=1.0, name=None, processes_every=1)
        sampler.sample_once()
        collector = SnapshotCollector(sampler, max_age_s=3600)

        class Registry:  # generate_latest needs only collect()
            def collect(self):
                return collector.collect()

        text = generate_latest(Registry())
        for _ in range(20):
            generate_latest(Registry())
        cpu0 = time.thread_time()
        for _ in range(repeat):
            generate_latest(Registry())
        return (time.thread_time() - cpu0) / repeat * 1e6, len(text)
    finally:
        backend.close()


def run(simulate: int | None = 8, interval: float = 1.0, seconds: float = 60.0) -> dict:
    result: dict = {
        "date": date.today().isoformat(),
        "host": platform.node(),
        "python": platform.python_version(),
        "cpu_count": psutil.cpu_count(),
        "interval_s": interval,
        "scrape_every_s": 1.0,
    }
    result["collect_us"], result["exposition_bytes"] = collect_cost_us(simulate)
    result["sampler_alone"] = measure("sampler", simulate, interval, seconds)
    result["with_exporter"] = measure("exporter", simulate, interval, seconds)
    info = result["with_exporter"]
    result.update(backend="simulated" if simulate else "nvml", gpus=info["gpus"], gpu_name=info["gpu_name"])
    result["exporter_cost_pct"] = result["with_exporter"]["cpu_pct"] - result["sampler_alone"]["cpu_pct"]
    return result


def format_result(r: dict) -> str:
    s, e = r["sampler_alone"], r["with_exporter"]
    cost = r["exporter_cost_pct"]
    return "\n".join(
        [
            f"exporter benchmark: {r['backend']} backend, {r['gpus']} GPU(s) ({r['gpu_name']}), "
            f"sampling every {r['interval_s']:g} s, one scrape a second, {r['date']}",
            f"  sampler alone                     {s['cpu_pct']:.3f}% of one core ({s['seconds']:.0f} s)",
            f"  sampler + exporter, scraped       {e['cpu_pct']:.3f}% of one core ({e['scrapes']} scrapes)",
            f"  the exporter's share              {cost:.3f}% of one core",
            f"  scrape response time              {e['response_ms_median']:.2f} ms median, "
            f"{e['response_ms_max']:.2f} ms max; {e['response_bytes']:.0f} bytes (no compression)",
            f"  one collect + rendering           {r['collect_us']:.0f} us CPU ({r['exposition_bytes']} bytes of text)",
            f"  target: exporter < {TARGET_PCT}% of a core ... {'met' if cost < TARGET_PCT else 'MISSED'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/prometheus_exporter_bench.py",
        description="CPU and response time of the Prometheus exporter",
    )
    parser.add_argument("--simulate", type=int, metavar="N", help="N simulated GPUs (default: real GPUs via NVML)")
    parser.add_argument("--interval", type=float, default=1.0, help="sampler interval, seconds (default 1)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring window per run (default 60)")
    parser.add_argument("--quick", action="store_true", help="15 s windows (less precise)")
    parser.add_argument("--json-out", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--serve", choices=["sampler", "exporter"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.simulate, args.interval)
    result = run(args.simulate, args.interval, 15.0 if args.quick else args.seconds)
    print(format_result(result))
    if args.json_out:
        path = Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
