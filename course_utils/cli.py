"""Command line: ``python -m course_utils {doctor,monitor,bench}`` (also ``course-utils``).

Bad input (a flag's value, an environment variable, an output path) is reported on one
line of stderr with exit code 2, before any work starts, never as a traceback. SIGINT and
SIGTERM end every command at once: ``monitor`` stops and prints its summary (exit 0); the
benchmarks stop with one line and exit code 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .inputs import MAX_SECONDS, MIN_INTERVAL_S, BadInput, seconds, whole_number
from .telemetry.simulated_backend import MAX_GPUS

PROG = "python -m course_utils"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument on one line (no usage block) and exits with 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _arg(check, **limits):
    """An argparse ``type=`` from an :mod:`course_utils.inputs` check; argparse names the flag."""

    def parse(text: str):
        try:
            return check(text, **limits)
        except BadInput as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = check.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="GPU helpers for the GPU Acceleration for AI Containers course")
    sub = parser.add_subparsers(dest="command", required=True)
    simulated = _arg(whole_number, minimum=1, maximum=MAX_GPUS, what="simulated GPUs")

    doc = sub.add_parser("doctor", help="check driver, NVML, CUDA in PyTorch/TensorFlow, container setup")
    doc.add_argument("--json", action="store_true", help="print the results as JSON")
    doc.add_argument(
        "--no-frameworks", action="store_true", help="skip the PyTorch and TensorFlow checks (they take a few seconds)"
    )

    mon = sub.add_parser("monitor", help="print a live GPU table until Ctrl-C or --duration")
    mon.add_argument("--simulate", type=simulated, metavar="N", help=f"show N simulated GPUs (1-{MAX_GPUS})")
    mon.add_argument(
        "--interval",
        type=_arg(seconds, minimum=MIN_INTERVAL_S, maximum=MAX_SECONDS),
        default=1.0,
        metavar="S",
        help=f"seconds between samples ({MIN_INTERVAL_S:g} or more)",
    )
    mon.add_argument(
        "--duration",
        type=_arg(seconds, minimum=MIN_INTERVAL_S, maximum=MAX_SECONDS, hint=" (leave it out to run until Ctrl-C)"),
        metavar="S",
        help="stop after S seconds",
    )
    mon.add_argument("--csv", metavar="FILE", help="also log every sample to FILE (CSV)")
    mon.add_argument(
        "--prometheus",
        metavar="[HOST]:PORT",
        help="serve the metrics for Prometheus under dcgm-exporter's names, e.g. :9400 "
        "(this machine only) or 0.0.0.0:9400 (every interface)",
    )

    bench = sub.add_parser(
        "bench",
        help="benchmarks that print figures (dashboard, multi-gpu and speed take their "
        "own options: `bench speed --help`)",
    )
    bench.add_argument("what", choices=["telemetry", "dashboard", "multi-gpu", "speed"], help="which benchmark")
    bench.add_argument("--gpus", type=_arg(whole_number, minimum=1), help="read only the first N GPUs (default: all)")
    bench.add_argument(
        "--simulate", type=simulated, metavar="N", help=f"benchmark the simulated backend with N GPUs (1-{MAX_GPUS})"
    )
    bench.add_argument("--json-out", metavar="FILE", help="write the figures as JSON")
    bench.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    return parser


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


def main(argv: list[str] | None = None, exit_now_on_signal: bool = False) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(argv[:2]) if argv[:1] == ["bench"] else " ".join(argv[:1])
    # SIGTERM ends a benchmark like Ctrl-C; SIGINT is set too, since a process started in the
    # background by a shell inherits it ignored and Python then installs no handler of its own
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _dispatch(argv)
    except BadInput as exc:
        print(f"{PROG} {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        print(f"{PROG} {command}: stopped by {signal.Signals(signum).name}; nothing more was written", file=sys.stderr)
        if exit_now_on_signal:
            # The interrupt may have landed anywhere, also in the clean-up that stops a benchmark's
            # sampler thread: leave now rather than wait at exit for a thread nobody will stop.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + signum)
        return 128 + signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _dispatch(argv: list[str]) -> int:
    # these benchmarks own their command lines; pass the rest through untouched
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in ("dashboard", "multi-gpu", "speed"):
        if argv[1] == "speed":
            from .bench.speed import main as bench_speed

            return bench_speed(argv[2:])
        if argv[1] == "dashboard":
            from .bench.dashboard import main as bench_dashboard

            return bench_dashboard(argv[2:])
        from .bench.multi_gpu import main as bench_multi_gpu

        return bench_multi_gpu(argv[2:])
    args = build_parser().parse_args(argv)
    if args.command == "doctor":
        from .diagnostics.doctor import Context, doctor_report

        print(doctor_report(as_json=args.json, ctx=Context(skip_frameworks=args.no_frameworks)))
        return 0
    if args.command == "monitor":
        from .monitor import monitor

        return monitor(
            simulate=args.simulate,
            interval=args.interval,
            duration=args.duration,
            csv_path=args.csv,
            prometheus=args.prometheus,
        )
    if args.command == "bench":
        from .bench.telemetry import main as bench_main

        return bench_main(gpus=args.gpus, simulate=args.simulate, json_out=args.json_out, quick=args.quick)
    return 2


if __name__ == "__main__":
    sys.exit(main())


def console_main() -> int:
    """The `course-utils` command: a command-line process, so a signal ends it at once."""
    return main(exit_now_on_signal=True)
