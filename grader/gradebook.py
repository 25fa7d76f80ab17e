"""nbgrader's gradebook (``COURSE/gradebook.db``): read the points of a graded notebook, and keep
the course's gradebook equal to the results journal. Only the grader process writes it, one
thread at a time (:data:`LOCK`); each kernel grades into a throw-away copy.
"""

import threading
import warnings

from grader.course import gradebook_url

LOCK = threading.Lock()


def _gradebook(course_dir):
    from nbgrader.api import Gradebook

    return Gradebook(gradebook_url(course_dir))


def test_scores(course_dir, assignment, student_id):
    """``{grade cell id: points}`` of the student's autograded notebook."""
    with _gradebook(course_dir) as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student_id)
        return {g.name: float(g.score or 0) for g in submission.grades}


def max_scores(course_dir, assignment):
    """``{grade cell id: max points}`` of an assignment's notebook."""
    with _gradebook(course_dir) as gradebook:
        notebook = gradebook.find_notebook(assignment, assignment)
        return {cell.name: float(cell.max_score) for cell in notebook.grade_cells}


def record(course_dir, grade):
    """Write one graded submission's per-test points into the gradebook (replacing any old entry);
    a submission that was not graded is removed from it."""
    from nbgrader.api import MissingEntry

    with _gradebook(course_dir) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy session warnings
        try:
            gradebook.remove_submission(grade.notebook, grade.student_id)
        except MissingEntry:
            pass
        if grade.status != "graded":
            return
        gradebook.update_or_create_student(grade.student_id)
        gradebook.add_submission(grade.notebook, grade.student_id)
        for name, points in grade.tests.items():
            cell_grade = gradebook.find_grade(name, grade.notebook, grade.notebook, grade.student_id)
            cell_grade.auto_score, cell_grade.manual_score = points, None
        gradebook.db.commit()


def sync(course_dir, grade):
    """Make the gradebook hold exactly ``grade`` (used when a saved result is reused)."""
    from nbgrader.api import MissingEntry

    try:
        recorded = {name: float(test_scores(course_dir, grade.notebook, grade.student_id)[name])
                    for name in grade.tests}
    except (MissingEntry, KeyError):
        recorded = None
    if grade.status != "graded" or recorded != grade.tests:
        record(course_dir, grade)
