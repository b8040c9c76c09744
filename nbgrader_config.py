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

# Per cell: a multiple of the solution's own slowest cell (`python -m course_grading.timing
# measure`, figures in docs/results/solution_times.json), so a looping submission costs seconds.
# Plain `nbgrader autograde` uses c.Execute.timeout: the larger of the two.
c.Execute.timeout = 150
# Dashboard: slowest solution cell 3.3 s at a load of 16 on 2 cores -> 10x = 33 s.
# Training: torchrun cells took 43-45 s at that load (about 5 s idle); 150 s is over 3x that and
# above toy.launch's own 120 s limit, so a hung DDP run is killed by the launcher with its ranks.
c.GradeSubmissions.cell_timeout = {"gpu_monitoring_dashboard": 33, "multi_gpu_training": 150}
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

    c.Autograde.autograde_preprocessors = [
        RobustExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]
