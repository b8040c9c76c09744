"""Benchmarks that print figures (``python -m course_utils bench ...``)."""
