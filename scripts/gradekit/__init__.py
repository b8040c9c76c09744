"""Parallel, crash-proof nbgrader autograding for the course (see docs/instructor.md).

``scripts/grade_submissions.py`` is the command line; the modules each do one job:
``course`` (the course directory, its config and gradebook), ``layout`` (finding and
checking submissions), ``execute`` (a kernel death or hang costs only the cells it
stopped), ``forkkernel`` (kernels forked from a warm process), ``worker`` (grading one
submission in a private course directory), ``runner`` (the worker pool and its time
limit), ``merge`` (the only writer of the course gradebook), ``report`` (CSV, JSON and
the table), ``grading`` (the whole run), ``variants`` (generated submissions for tests,
the self-test and the benchmark) and ``selftest``.
"""
