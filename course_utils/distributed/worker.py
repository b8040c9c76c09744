"""The program each torchrun process runs (and a plain single-process run).

    torchrun --standalone --nproc-per-node=2 -m course_utils.distributed.worker --mode ddp --epochs 2
    python -m course_utils.distributed.worker --mode single

A rank that fails writes ``run_dir/error-rank<R>.json`` (what failed, where, when)
before it exits, so the launcher can show the first failure, not just "exit code
1"; torchrun's ``@record`` writes its own error file for torchrun's summary too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from torch.distributed.elastic.multiprocessing.errors import record

from . import progress
from .config import TrainConfig
from .env import under_torchrun
from .trainer import MODES, train


def error_file(run_dir: str | os.PathLike, rank: int) -> Path:
    return Path(run_dir) / f"error-rank{rank}.json"


def write_error(run_dir: str | os.PathLike | None, exc: BaseException) -> None:
    if not run_dir:
        return
    rank = int(os.environ.get("RANK", 0))
    info = {
        "rank": rank,
        "local_rank": int(os.environ.get("LOCAL_RANK", 0)),
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "time": time.time(),
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
    path = error_file(run_dir, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.distributed.worker",
        description="Train the course's reference model: single, DataParallel or DDP",
    )
    parser.add_argument("--mode", choices=MODES, default=None, help="default: ddp under torchrun, single otherwise")
    TrainConfig.add_arguments(parser)
    return parser


@record
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    mode = args.mode or ("ddp" if under_torchrun() else "single")
    try:
        cfg = TrainConfig.from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        train(cfg, mode, on_event=progress.emit, log=lambda text: print(text, flush=True))
    except BaseException as exc:
        if not isinstance(exc, SystemExit | KeyboardInterrupt):
            write_error(cfg.run_dir, exc)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
