"""nbgrader configuration: the repository root is the course directory.

solutions/ holds the source assignments (solutions and hidden tests), exercises/
the release that learners get (generated: `nbgrader generate_assignment NAME`,
never edited by hand). submitted/, autograded/, feedback/ and gradebook.db are
nbgrader's working state and are not committed. See docs/instructor.md.
"""

import sys

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "gpu-containers-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# work/ holds what a notebook writes while it runs (CSV logs, the DDP script, run
# outputs): never released, never copied from a submission (grading regenerates it).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "work"]

# Per cell. The longest cells launch torchrun (about 5 s on 2 CPU cores; the
# launcher kills a hung run after 240 s), so 300 s fits training with room to spare.
c.Execute.timeout = 300
# Kill the kernel once the notebook has run, instead of a polite shutdown that can take
# a second or more: nothing in it is needed any more (logs are flushed row by row).
c.Execute.shutdown_kernel = "immediate"
# course-grade (course_grading) uses a shorter limit where an assignment has no long
# cells, so a submission stuck in a loop costs a minute, not five.
c.GradeSubmissions.cell_timeout = {"gpu_monitoring_dashboard": 60}
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
