"""``python -m course_utils monitor``: a live table in the terminal (or a CSV log,
or a Prometheus endpoint with ``--prometheus``)."""

from __future__ import annotations

import math
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

from .inputs import MAX_SECONDS, MIN_INTERVAL_S, BadInput, output_file, write_error
from .telemetry import CsvLogger, Sampler, no_gpu_reason, open_backend
from .telemetry.samples import Snapshot
from .telemetry.select import check_environment


def _cell(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def format_table(snap: Snapshot, label: str) -> str:
    head = f"{label}   {time.strftime('%H:%M:%S', time.localtime(snap.timestamp))}"
    rows = [
        head,
        f"{'GPU':>3} {'name':<26}{'mem used/total MiB':>22}{'util%':>7}{'temp C':>8}{'power W':>14}{'SM MHz':>8}",
    ]
    for g in snap.gpus:
        if not g.healthy:
            rows.append(f"{g.index:>3} {g.name[:25]:<26} FAILED: {g.error}")
            continue
        mem = f"{_cell(g.memory_used_mib, '.0f')}/{_cell(g.memory_total_mib, '.0f')}"
        power = f"{_cell(g.power_w, '.0f')}/{_cell(g.power_limit_w, '.0f')}"
        rows.append(
            f"{g.index:>3} {g.name[:25]:<26}{mem:>22}{_cell(g.utilization_pct, '.0f'):>7}"
            f"{_cell(g.temperature_c, '.0f'):>8}{power:>14}{_cell(g.sm_clock_mhz, '.0f'):>8}"
        )
    return "\n".join(rows)


class SignalStop:
    """SIGINT and SIGTERM end a loop that waits with :meth:`wait`.

    The handler only records the signal and writes one byte to a pipe: no lock is taken
    (``threading.Event.set`` would take the lock that the interrupted ``Event.wait`` may hold
    at that moment, and deadlock). The loop waits on the pipe with ``select``, so a signal
    ends the wait at once. Handlers are installed from the main thread only.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        self.signum = signum
        try:
            os.write(self._write, b"\0")
        except OSError:  # the pipe is full: a wake-up is already pending
            pass

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True once a signal came."""
        if not self.stopped:
            select.select([self._read], [], [], max(0.0, timeout))
        return self.stopped

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        os.close(self._read)
        os.close(self._write)


# With --prometheus, the per-process table (the slowest NVML call) is read every
# this many samples, for the per-process memory metric.
PROCESSES_EVERY = 5


def monitor(
    simulate: int | None = None,
    interval: float = 1.0,
    duration: float | None = None,
    csv_path: str | None = None,
    out=None,
    prometheus: str | None = None,
) -> int:
    """Print a live table (or serve Prometheus metrics) until SIGINT/SIGTERM or ``duration``;
    bad input raises :class:`BadInput` before anything starts."""
    out = out or sys.stdout
    if not (math.isfinite(interval) and MIN_INTERVAL_S <= interval <= MAX_SECONDS):
        raise BadInput(
            f"--interval must be a number of seconds from {MIN_INTERVAL_S:g} to {MAX_SECONDS:g}, got {interval!r}"
        )
    if duration is not None and not (math.isfinite(duration) and 0 < duration <= MAX_SECONDS):
        raise BadInput(
            f"--duration must be a number of seconds from more than 0 to {MAX_SECONDS:g} "
            f"(leave it out to run until Ctrl-C), got {duration!r}"
        )
    if prometheus is not None:
        from .telemetry.prometheus import parse_address

        try:
            parse_address(prometheus)
        except ValueError as exc:
            raise BadInput(f"--prometheus: {exc}") from None
    try:
        check_environment()
        backend = open_backend(simulate=simulate)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    try:
        logger = _open_csv(csv_path) if csv_path else None
    except BaseException:
        backend.close()
        raise
    reason = no_gpu_reason(backend)
    if reason is not None:
        if logger:
            logger.close()
        print(f"No GPU to monitor: {reason}", file=out)
        print("Try `python -m course_utils monitor --simulate 2` to see simulated GPUs.", file=out)
        return 0
    sampler = Sampler(
        backend, interval=interval, name="cli-monitor", processes_every=PROCESSES_EVERY if prometheus is not None else 0
    )
    if logger:
        sampler.subscribe(logger)
    tty = hasattr(out, "isatty") and out.isatty()
    exporter = None
    deadline = None if duration is None else time.monotonic() + duration
    shown = 0
    with SignalStop() as stop:
        try:
            sampler.start()
            if prometheus is not None:
                from .telemetry.prometheus import start_exporter

                try:
                    exporter = start_exporter(sampler, prometheus)
                except OSError as exc:
                    raise BadInput(f"--prometheus {prometheus}: {exc.strerror or exc}") from None
                print(
                    f"Prometheus metrics of {backend.label} at {exporter.url} "
                    f"(listening on {exporter.host}:{exporter.port})",
                    file=out,
                    flush=True,
                )
            while True:
                snap = sampler.latest
                if snap is not None and sampler.ticks != shown:
                    shown = sampler.ticks
                    # a service's log gets the exporter's address once, not a table a second
                    if exporter is None or tty:
                        print(("\x1b[H\x1b[J" if tty else "") + format_table(snap, backend.label), file=out, flush=True)
                timeout = interval if shown else 0.05  # the first table as soon as the first sample exists
                if deadline is not None:
                    timeout = min(timeout, deadline - time.monotonic())
                    if timeout <= 0:
                        break
                if stop.wait(timeout):
                    break
        finally:
            if exporter is not None:
                exporter.stop()
            sampler.close()
            if logger:
                logger.close()
            backend.close()
    summary = f"stopped after {sampler.ticks} sample(s)"
    if stop.signum is not None:
        summary += f" ({signal.Signals(stop.signum).name})"
    if logger:
        summary += f"; {logger.rows_written} row(s) in {csv_path}"
    print(summary, file=out)
    return 0


def _open_csv(path: str) -> CsvLogger:
    if Path(path).is_dir():
        raise BadInput(f"--csv {path} is a folder: give a file name in it, e.g. {Path(path) / 'gpu.csv'}")
    output_file(path, "--csv")
    try:
        return CsvLogger(path)
    except OSError as exc:
        raise write_error("--csv", path, exc) from None
    except ValueError as exc:  # a log with other columns is there
        raise BadInput(f"--csv {exc}") from None
