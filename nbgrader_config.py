"""nbgrader configuration: the repository root is the course directory.

solutions/ holds the source assignments (solutions and hidden tests), exercises/
the release that learners get (generated: `nbgrader generate_assignment NAME`,
never edited by hand). submitted/, autograded/, feedback/ and gradebook.db are
nbgrader's working state and are not committed. See docs/instructor.md.
"""

import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "gpu-containers-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# work/ holds what a notebook writes while it runs (CSV logs, the DDP script, run
# outputs): never released, never copied from a submission (grading regenerates it).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "work"]
# nbgrader's exchange, where release_assignment puts assignments, learners submit and collect
# picks up: a root-owned folder with mode 1777 on the hub machine (hub/jupyterhub_config.py).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")

# `nbgrader export` writes student grades: into the ignored grading-reports/ folder, never the
# repository root. (`course-export` writes grading-reports/gradebook.csv with manual-grade flags.)
_reports = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grading-reports")
c.CsvExportPlugin.to = os.path.join(_reports, "nbgrader-export.csv")
if "export" in sys.argv[1:2]:  # nbgrader's exporter does not create the folder
    os.makedirs(_reports, exist_ok=True)

# Time limits come from the solution's own run (`python -m course_grading.timing measure --runs 3`,
# docs/results/solution_times.json: idle 2-core CPU machine, 2026-11-30 05:51 UTC, load 0.7):
# course-grade scales them per submission by how much slower the machine runs then (a short busy
# loop), by at least the slowdown its own workers cause (workers x solution_cores / cores) and on
# GPU workers (course_grading/timing.py, scaled_limits), so a looping submission costs a few times
# an honest one. Per cell: 3x the solution's slowest cell, at least 5 s. Dashboard: slowest cell
# ~0.5 s. Training: the launch cell (one torchrun job) ~5 s -> 15 s (toy.launch stops its job on
# the interrupt, so no rank outlives the cell).
c.GradeSubmissions.cell_timeout = {"gpu_monitoring_dashboard": 5, "multi_gpu_training": 15}
# All cells of one submission together: 2x the solution's cells plus one cell limit; once spent,
# the cells below are not run and the report says "stopped for time" and where. Solution cells,
# summed: dashboard ~0.7 s (1 s used, the least), training 6.9 s.
c.GradeSubmissions.solution_seconds = {"gpu_monitoring_dashboard": 1.0, "multi_gpu_training": 6.9}
# Cores the solution keeps busy on average (its CPU time over its wall time, at least 1).
c.GradeSubmissions.solution_cores = {"gpu_monitoring_dashboard": 1.0, "multi_gpu_training": 1.3}
# Plain `nbgrader autograde` knows neither: it uses c.Execute.timeout, the larger limit, unscaled.
c.Execute.timeout = 150
# Kill the kernel once the notebook has run, instead of a polite shutdown that can take
# a second or more: nothing in it is needed any more (logs are flushed row by row).
c.Execute.shutdown_kernel = "immediate"
# A deleted test cell is put back from the gradebook and run, instead of scoring nothing.
c.OverwriteCells.add_missing_cells = True

# A kernel that dies (os._exit, a crash) or ignores the timeout interrupt costs only the
# cells it stopped, instead of aborting the student's whole autograde; the kernel runs in
# course-grade's sandbox and under its integrity guard (docs/grading-security.md).
try:
    from course_grading.execute import RobustExecute
except ImportError as exc:  # the course package is not installed: stock behaviour
    print(f"nbgrader_config: using nbgrader's own Execute ({exc})", file=sys.stderr)
else:
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    from course_grading.validation import show_points

    show_points()  # `nbgrader validate` says what each failing test is worth
    c.Autograde.autograde_preprocessors = [
        RobustExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
