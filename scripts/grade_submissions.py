#!/usr/bin/env python3
"""Autograde a folder of submissions in parallel, into the course's nbgrader gradebook.

    python scripts/grade_submissions.py gpu_monitoring_dashboard path/to/submissions --workers 2
    python scripts/grade_submissions.py --selftest --out docs/results/grading_gpu.json
    python scripts/grade_submissions.py --print-requirements

SUBMISSIONS holds one folder per student: STUDENT/ASSIGNMENT/*.ipynb (nbgrader's layout,
e.g. the course's own submitted/ folder) or STUDENT/*.ipynb. Each submission is graded by
nbgrader's autograde in a worker with a private course folder and gradebook; results are
merged into the course gradebook by this process alone. Writes grades.csv and report.json
to --out (default grading-reports/ASSIGNMENT), feedback HTML to feedback/STUDENT/ASSIGNMENT/,
and prints a table with timings. See docs/instructor.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", help="assignment name (a folder of solutions/)")
    parser.add_argument("submissions", nargs="?", type=Path, help="folder with one folder per student")
    parser.add_argument("--course-dir", type=Path, default=Path.cwd(),
                        help="the course directory holding nbgrader_config.py (default: current folder)")
    parser.add_argument("--workers", type=int, default=None, help="parallel graders (default: CPU count)")
    parser.add_argument("--out", type=Path, help="where grades.csv and report.json go (--selftest: a JSON file)")
    parser.add_argument("--student", action="append", dest="students", metavar="ID",
                        help="grade only this student (repeat for more); others keep their grades")
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    parser.add_argument("--no-fork-kernels", action="store_true",
                        help="start each kernel as a new Python instead of forking it from a warm process")
    parser.add_argument("--cell-timeout", type=float, help="seconds per cell (default: nbgrader_config.py)")
    parser.add_argument("--submission-timeout", type=float, default=900.0,
                        help="hard limit per submission in seconds (default 900)")
    parser.add_argument("--selftest", action="store_true",
                        help="grade the solutions and a few broken submissions of every assignment in a scratch "
                             "course (GPU paths active when there are GPUs) and check the scores")
    parser.add_argument("--print-requirements", action="store_true",
                        help="print the packages (name==version) grading needs beyond torch and course_utils")
    args = parser.parse_args(argv)

    if args.print_requirements:
        from gradekit.selftest import requirements

        print("\n".join(requirements()))
        return 0
    if args.selftest:
        from gradekit.selftest import selftest

        return selftest(args.out, workers=args.workers)
    if not args.assignment or not args.submissions:
        parser.error("give ASSIGNMENT and SUBMISSIONS (or --selftest / --print-requirements)")
    from gradekit.grading import grade_folder

    try:
        grade_folder(args.course_dir, args.assignment, args.submissions, workers=args.workers, out=args.out,
                     students=args.students, feedback=not args.no_feedback, cell_timeout_s=args.cell_timeout,
                     submission_timeout_s=args.submission_timeout, fork_kernels=not args.no_fork_kernels)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
