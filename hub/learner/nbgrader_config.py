"""nbgrader for a learner: which course, and where assignments are handed out and in.

Read from a JUPYTER_CONFIG_PATH folder (the hub sets it; the workshop image copies this folder
to /etc/jupyter/course-learner and points JUPYTER_CONFIG_PATH there). The exchange is a
folder every account can write to (mode 1777, root-owned).
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "gpu-containers-course")
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
# Assignments are fetched into the folder the learner's Jupyter server starts in (their home).
c.Exchange.assignment_dir = os.environ.get("COURSE_ASSIGNMENT_DIR", os.getcwd())
