"""Grading a class: the orchestration that runs in the instructor's trust zone.

:mod:`grader.pipeline.autograde` grades every submission with a worker (:mod:`grader.pipeline.worker`,
nbgrader in a long-lived process) in a private course copy (:mod:`grader.pipeline.isolation`), keeps
each result in the journal (:mod:`grader.pipeline.results`), then :mod:`grader.pipeline.collect`
builds grades.csv, the gradebook, the feedback pages and the report from it.
"""
