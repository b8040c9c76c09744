"""Self-checks for the hands-on exercises inside the notebooks, one module per notebook.

``course_utils.exercises.nb06`` holds notebook 06's checks, and so on. Each check takes what the
learner produced and returns a :class:`course_utils.selfcheck.Feedback`; it never gives the answer.
"""
