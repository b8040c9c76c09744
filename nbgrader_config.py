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

# Per cell. The longest cells launch torchrun (about 5 s on 2 CPU cores; the
# launcher kills a hung run after 240 s), so 300 s fits training with room to spare.
c.Execute.timeout = 300
# Kill the kernel once the notebook has run, instead of a polite shutdown that can take
# a second or more: nothing in it is needed any more (logs are flushed row by row).
c.Execute.shutdown_kernel = "immediate"
# scripts/grade_submissions.py uses a shorter limit where an assignment has no long
# cells, so a submission stuck in a loop costs a minute, not five.
c.GradeSubmissions.cell_timeout = {"gpu_monitoring_dashboard": 60}
# Its workers fork each kernel from a process that imported ipykernel and these once (still
# one fresh process per submission; see scripts/gradekit/forkkernel.py). Training preloads
# nothing more: torch there measured no faster (docs/results/grading.json), and a process
# that loaded CUDA libraries is best not forked.
c.GradeSubmissions.kernel_preload = {
    "gpu_monitoring_dashboard": ["course_utils.telemetry", "matplotlib.figure", "matplotlib.backends.backend_agg"],
    "multi_gpu_training": [],
}

# A deleted test cell is put back from the gradebook and run, instead of scoring nothing.
c.OverwriteCells.add_missing_cells = True

# A kernel that dies (os._exit, a crash) or ignores the timeout interrupt costs only the
# cells it stopped, instead of aborting the student's whole autograde.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts"))
try:
    from gradekit.execute import RobustExecute
except ImportError as exc:  # e.g. this file copied without scripts/: stock behaviour
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
