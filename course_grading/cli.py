"""``course-grade``: autograde a folder of submissions, each in its own sandbox.

    course-grade gpu_monitoring_dashboard path/to/submissions --workers 2 --out reports/
    course-grade --selftest --out docs/results/grading_gpu.json
    course-grade --print-requirements

(``python -m course_grading`` is the same command.) SUBMISSIONS holds one folder per
student: STUDENT/ASSIGNMENT/*.ipynb (nbgrader's layout) or STUDENT/*.ipynb. Each
submission's kernel runs in a bubblewrap sandbox (own uid, no network, no view of the
course, limits; see docs/grading-security.md); nbgrader's autograde runs in a trusted
worker beside it, and only this process writes the gradebook, DIR/grades.csv (student_id,
score, ...) and DIR/report.json. A run that is stopped can be run again: what was graded
is kept. See docs/instructor.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MIN_CELL_TIMEOUT_S = 1.0


def _cell_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= MIN_CELL_TIMEOUT_S:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"{text} s is too short: give at least {MIN_CELL_TIMEOUT_S:g} s per cell (0 or a negative value "
            "would not switch the limit off, it is refused)"
        )
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="course-grade", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("assignment", nargs="?", help="assignment name (a folder of solutions/)")
    p.add_argument("submissions", nargs="?", type=Path, help="folder with one folder per student")
    p.add_argument(
        "--course-dir",
        type=Path,
        default=Path.cwd(),
        help="the course directory holding nbgrader_config.py (default: current folder)",
    )
    p.add_argument("--workers", type=int, default=None, help="parallel graders (default: CPU count)")
    p.add_argument("--out", type=Path, help="where grades.csv and report.json go (--selftest: a JSON file)")
    p.add_argument(
        "--student",
        action="append",
        dest="students",
        metavar="ID",
        help="grade only this student (repeat for more); others keep their grades",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep what an interrupted run already graded (OUT/journal) for submissions that did not "
        "change, and grade the rest",
    )
    p.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p.add_argument(
        "--feedback-detail",
        choices=("results", "full"),
        default="results",
        help="results (default): test names, pass/fail and the error message; full: also the "
        "tests' source and tracebacks (this shows the hidden tests to the students)",
    )
    p.add_argument(
        "--cell-timeout", type=_cell_timeout, help="seconds per cell, at least 1 (default: nbgrader_config.py)"
    )
    p.add_argument(
        "--submission-timeout", type=float, default=900.0, help="hard limit per submission in seconds (default 900)"
    )
    p.add_argument(
        "--gpus",
        default=None,
        help="GPU indices the sandboxes may use, e.g. 0,1 (default: CUDA_VISIBLE_DEVICES, else all); 'none' for no GPU",
    )
    p.add_argument(
        "--memory-mb",
        type=int,
        default=6144,
        help="memory for one submission's kernel and everything it starts (default 6144)",
    )
    p.add_argument(
        "--disk-mb",
        type=int,
        default=1024,
        help="disk space (a tmpfs) for the submissions one worker grades at a time (default 1024)",
    )
    p.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run submissions WITHOUT the sandbox where bubblewrap or namespaces are missing: the "
        "student's code then runs as you, sees your files, environment and network and can change "
        "any grade. Only for code you trust",
    )
    p.add_argument(
        "--selftest",
        action="store_true",
        help="grade the solutions and a few broken submissions of every assignment in a scratch "
        "course (GPU paths active when there are GPUs) and check the scores",
    )
    p.add_argument(
        "--print-requirements",
        action="store_true",
        help="print the packages (name==version) grading needs beyond torch and course_utils",
    )
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.submission_timeout <= 0:
        p.error("--submission-timeout must be positive")
    if args.memory_mb < 256 or args.disk_mb < 64:
        p.error("--memory-mb must be at least 256 and --disk-mb at least 64")
    if args.print_requirements:
        from .selftest import requirements

        print("\n".join(requirements()))
        return 0
    from .sandbox import SandboxUnavailable

    try:
        if args.selftest:
            from .selftest import selftest

            return selftest(args.out, workers=args.workers, unsafe=args.unsafe_no_sandbox, gpus=args.gpus)
        if not args.assignment or not args.submissions:
            p.error("give ASSIGNMENT and SUBMISSIONS (or --selftest / --print-requirements)")
        from .grading import grade_folder

        grade_folder(
            args.course_dir,
            args.assignment,
            args.submissions,
            workers=args.workers,
            out=args.out,
            students=args.students,
            feedback=not args.no_feedback,
            cell_timeout_s=args.cell_timeout,
            submission_timeout_s=args.submission_timeout,
            unsafe=args.unsafe_no_sandbox,
            gpus=args.gpus,
            feedback_detail=args.feedback_detail,
            resume=args.resume,
            memory_mb=args.memory_mb,
            disk_mb=args.disk_mb,
        )
    except SandboxUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
