"""What comes in from outside: the submissions as the learning platform delivers them.

Untrusted input, read but never run here: folders of ``<student_id>/<notebook>.ipynb``, Canvas'
and Moodle's downloads (:mod:`grader.intake.lms`, :mod:`grader.intake.lms_groups`,
:mod:`grader.intake.moodle_worksheet`), each notebook file checked before it is graded
(:mod:`grader.intake.notebook_file`). :mod:`grader.intake.submissions` is the entry point;
:mod:`grader.intake.base` holds what the readers share (the Submission and Refusal rows, the zip
extraction within limits, IntakeError).
"""
