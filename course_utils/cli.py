"""Command line: ``python -m course_utils {doctor,monitor,bench}`` (also ``course-utils``)."""

from __future__ import annotations

import argparse
import sys


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils",
                                     description="GPU helpers for the GPU Acceleration for AI Containers course")
    sub = parser.add_subparsers(dest="command", required=True)

    doc = sub.add_parser("doctor", help="check driver, NVML, CUDA in PyTorch/TensorFlow, container setup")
    doc.add_argument("--json", action="store_true", help="print the results as JSON")
    doc.add_argument("--no-frameworks", action="store_true",
                     help="skip the PyTorch and TensorFlow checks (they take a few seconds)")

    mon = sub.add_parser("monitor", help="print a live GPU table until Ctrl-C or --duration")
    mon.add_argument("--simulate", type=int, metavar="N", help="show N simulated GPUs (1-8)")
    mon.add_argument("--interval", type=_positive, default=1.0, metavar="S", help="seconds between samples")
    mon.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    mon.add_argument("--csv", metavar="FILE", help="also log every sample to FILE (CSV)")
    mon.add_argument("--prometheus", metavar="[HOST]:PORT",
                     help="serve the metrics for Prometheus under dcgm-exporter's names, e.g. :9400 "
                          "(this machine only) or 0.0.0.0:9400 (every interface)")

    bench = sub.add_parser("bench", help="benchmarks that print figures (dashboard and multi-gpu take their "
                                         "own options: `bench multi-gpu --help`)")
    bench.add_argument("what", choices=["telemetry", "dashboard", "multi-gpu"], help="which benchmark")
    bench.add_argument("--gpus", type=int, help="read only the first N GPUs (default: all)")
    bench.add_argument("--simulate", type=int, metavar="N", help="benchmark the simulated backend")
    bench.add_argument("--json-out", metavar="FILE", help="write the figures as JSON")
    bench.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # these benchmarks own their command lines; pass the rest through untouched
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in ("dashboard", "multi-gpu"):
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

        if args.simulate is not None and not 1 <= args.simulate <= 8:
            print("--simulate takes 1 to 8 GPUs", file=sys.stderr)
            return 2
        return monitor(simulate=args.simulate, interval=args.interval, duration=args.duration,
                       csv_path=args.csv, prometheus=args.prometheus)
    if args.command == "bench":
        from .bench.telemetry import main as bench_main

        return bench_main(gpus=args.gpus, simulate=args.simulate, json_out=args.json_out, quick=args.quick)
    return 2


if __name__ == "__main__":
    sys.exit(main())
