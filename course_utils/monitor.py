"""``python -m course_utils monitor``: a live table in the terminal (or a CSV log,
or a Prometheus endpoint with ``--prometheus``)."""

from __future__ import annotations

import signal
import sys
import threading
import time

from .telemetry import CsvLogger, Sampler, open_backend
from .telemetry.samples import Snapshot


def _cell(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def format_table(snap: Snapshot, label: str) -> str:
    head = f"{label}   {time.strftime('%H:%M:%S', time.localtime(snap.timestamp))}"
    rows = [head, f"{'GPU':>3} {'name':<26}{'mem used/total MiB':>22}{'util%':>7}{'temp C':>8}"
                  f"{'power W':>14}{'SM MHz':>8}"]
    for g in snap.gpus:
        if not g.healthy:
            rows.append(f"{g.index:>3} {g.name[:25]:<26} FAILED: {g.error}")
            continue
        mem = f"{_cell(g.memory_used_mib, '.0f')}/{_cell(g.memory_total_mib, '.0f')}"
        power = f"{_cell(g.power_w, '.0f')}/{_cell(g.power_limit_w, '.0f')}"
        rows.append(f"{g.index:>3} {g.name[:25]:<26}{mem:>22}{_cell(g.utilization_pct, '.0f'):>7}"
                    f"{_cell(g.temperature_c, '.0f'):>8}{power:>14}{_cell(g.sm_clock_mhz, '.0f'):>8}")
    return "\n".join(rows)


# With --prometheus, the per-process table (the slowest NVML call) is read every
# this many samples, for the per-process memory metric.
PROCESSES_EVERY = 5


def monitor(simulate: int | None = None, interval: float = 1.0, duration: float | None = None,
            csv_path: str | None = None, out=None, prometheus: str | None = None) -> int:
    out = out or sys.stdout
    if prometheus is not None:
        from .telemetry.prometheus import parse_address

        try:
            parse_address(prometheus)
        except ValueError as exc:
            print(f"--prometheus: {exc}", file=out)
            return 2
    backend = open_backend(simulate=simulate)
    if backend.kind == "none":
        print(f"No GPU to monitor: {backend.reason}", file=out)
        print("Try `python -m course_utils monitor --simulate 2` to see simulated GPUs.", file=out)
        return 0
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if threading.current_thread() is threading.main_thread():
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    sampler = Sampler(backend, interval=interval, name="cli-monitor",
                      processes_every=PROCESSES_EVERY if prometheus is not None else 0)
    logger = CsvLogger(csv_path) if csv_path else None
    if logger:
        sampler.subscribe(logger)
    tty = hasattr(out, "isatty") and out.isatty()
    exporter = None
    deadline = None if duration is None else time.monotonic() + duration
    shown = 0
    try:
        sampler.start()
        if prometheus is not None:
            from .telemetry.prometheus import start_exporter

            try:
                exporter = start_exporter(sampler, prometheus)
            except OSError as exc:
                print(f"--prometheus: {exc.strerror or exc}", file=out)
                return 2
            print(f"Prometheus metrics of {backend.label} at {exporter.url} "
                  f"(listening on {exporter.host}:{exporter.port})", file=out, flush=True)
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(min(interval, max(0.0, deadline - time.monotonic())) if deadline else interval)
            snap = sampler.latest
            if snap is None or sampler.ticks == shown:
                continue
            shown = sampler.ticks
            if exporter is not None and not tty:
                continue  # a service's log gets the address once, not a table a second
            table = format_table(snap, backend.label)
            print(("\x1b[H\x1b[J" if tty else "") + table, file=out, flush=True)
    finally:
        if exporter is not None:
            exporter.stop()
        sampler.close()
        if logger:
            logger.close()
        backend.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary = f"stopped after {sampler.ticks} sample(s)"
    if logger:
        summary += f"; {logger.rows_written} row(s) in {csv_path}"
    print(summary, file=out)
    return 0
