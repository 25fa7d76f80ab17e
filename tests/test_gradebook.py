"""The course's nbgrader gradebook as the grader writes it: nothing lost, and no warning on the
instructor's terminal from nbgrader's own ``Gradebook.add_submission`` (a class of 100 students
graded with ``--jobs 2`` printed six SQLAlchemy "not in session" warnings before the fix)."""

import warnings

from nbgrader.api import Gradebook

from grader.course import gradebook_url
from grader.pipeline import gradebook
from grader.pipeline.results import Grade

NOTEBOOK = "01_mnist_cam"


def _course_with_one_test(course_dir):
    """A gradebook with the notebook NOTEBOOK, its graded test cell ``test_a`` (2 points) and one
    solution cell, as nbgrader's generate_assignment leaves it."""
    with Gradebook(gradebook_url(course_dir)) as book:
        book.add_assignment(NOTEBOOK)
        book.add_notebook(NOTEBOOK, NOTEBOOK)
        book.add_grade_cell("test_a", NOTEBOOK, NOTEBOOK, max_score=2, cell_type="code")
        book.add_solution_cell("answer", NOTEBOOK, NOTEBOOK)


def _session_warnings(caught):
    return [str(w.message) for w in caught if "not in session" in str(w.message)]


def test_nbgrader_itself_warns_on_a_new_submission(tmp_path):
    """The warning this module hides is real: nbgrader's add_submission trips it with no filter."""
    _course_with_one_test(tmp_path)
    with Gradebook(gradebook_url(tmp_path)) as book, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        book.add_student("s1")
        book.add_submission(NOTEBOOK, "s1")
    assert any("<SubmittedAssignment> not in session" in message for message in _session_warnings(caught))


def test_recording_a_grade_warns_nothing_and_keeps_the_points(tmp_path):
    _course_with_one_test(tmp_path)
    grade = Grade("s1", NOTEBOOK, score=1.5, max_score=2, tests={"test_a": 1.5})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradebook.ignore_nbgrader_session_warnings()   # what importing grader.pipeline.gradebook does
        gradebook.record(tmp_path, grade)
        gradebook.record(tmp_path, grade)   # again: the old entry is replaced, not doubled
    assert _session_warnings(caught) == []
    assert gradebook.recorded_cells(tmp_path, grade) == {"test_a": (1.5, None, None)}
    with Gradebook(gradebook_url(tmp_path)) as book:
        assert book.find_submission(NOTEBOOK, "s1").score == 1.5
        assert len(book.assignment_submissions(NOTEBOOK)) == 1
