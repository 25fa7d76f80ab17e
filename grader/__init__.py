"""Course grading: release student notebooks, autograde submissions, self-check.

Run ``python -m grader --help``.
"""
