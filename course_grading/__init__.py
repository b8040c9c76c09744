"""Parallel, sandboxed, crash-proof nbgrader autograding for the course (docs/instructor.md,
docs/grading-security.md).

``course-grade`` (``cli``) is the command line; the modules each do one job: ``course``
(the course directory, its config and gradebook), ``layout`` (finding and checking
submissions), ``sandbox`` (the bubblewrap sandbox and the kernel provisioner that puts
each kernel in it), ``guard`` (the integrity preamble and probe run in the kernel),
``scan`` (a static look for tampering), ``execute`` (nbgrader's Execute with both, where
a kernel death or hang costs only the cells it stopped), ``feedback`` (feedback without
the hidden tests), ``worker`` (grading one submission in a private course directory),
``runner`` (the worker pool and its time limit), ``merge`` (the only writer of the
course gradebook), ``report`` and ``journal`` (atomic CSV, JSON and per-student
results), ``grading`` (the whole run), ``variants`` (generated submissions for tests,
the self-test and the benchmark) and ``selftest``.
"""
