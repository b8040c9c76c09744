"""nbgrader for the instructor's server on the hub: the course directory and the exchange.

The course directory (a checkout of this repository, owned by the instructor) holds the
course's own nbgrader_config.py; this file points formgrader and the nbgrader commands at it.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

course_dir = os.environ.get("COURSE_DIR")
if course_dir:
    c.CourseDirectory.root = course_dir
    # the course's settings (source and release folders, timeouts, grading preprocessors)
    load_subconfig(str(Path(course_dir) / "nbgrader_config.py"))  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "gpu-containers-course")
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
