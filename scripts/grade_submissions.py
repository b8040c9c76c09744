#!/usr/bin/env python3
"""Kept for old instructions: the grader is the ``course-grade`` command (``python -m course_grading``)."""

import sys

from course_grading.cli import main

if __name__ == "__main__":
    sys.exit(main())
