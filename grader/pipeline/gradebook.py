"""nbgrader's gradebook (``COURSE/gradebook.db``): read the points of a graded notebook, and keep
the course's gradebook equal to the results journal. Only the grader process writes it, one
thread at a time (:data:`LOCK`); each kernel grades into a throw-away copy.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

from grader.course import SOLUTIONS_DIR, gradebook_url
from grader.pipeline.results import Grade

LOCK = threading.Lock()


def ignore_nbgrader_session_warnings() -> None:
    """Hide SQLAlchemy's "Object of type <SubmittedAssignment> not in session" warnings, which
    nbgrader's ``Gradebook.add_submission`` trips on every new submission (it reads the new rows'
    relations before it adds them to the session, then adds them: nothing is lost). A filter for
    the whole process, not ``warnings.catch_warnings`` around the call: that context manager is not
    thread-safe, and another job's thread leaving its own could bring the warning back."""
    warnings.filterwarnings("ignore", message=r"Object of type <\w+> not in session", module=r"nbgrader\.api")


ignore_nbgrader_session_warnings()


def solution_points(notebook: str, solutions_dir: str | Path = SOLUTIONS_DIR) -> float:
    """The points of ``notebook``'s graded test cells in ``solutions/<notebook>.ipynb``; 0 without one
    (what a notebook is worth when the gradebook has no row of it: every submission refused)."""
    try:
        cells = json.loads((Path(solutions_dir) / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return 0.0
    total = 0.0
    for cell in cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("grade"):
            total += float(nbgrader.get("points", 0))
    return total


def _gradebook(course_dir):
    from nbgrader.api import Gradebook

    return Gradebook(gradebook_url(course_dir))


def test_scores(course_dir: str | Path, assignment: str, student_id: str) -> dict[str, float]:
    """``{grade cell id: points}`` of the student's autograded notebook."""
    with _gradebook(course_dir) as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student_id)
        return {g.name: float(g.score or 0) for g in submission.grades}


def max_scores(course_dir: str | Path, assignment: str) -> dict[str, float]:
    """``{grade cell id: max points}`` of an assignment's notebook."""
    with _gradebook(course_dir) as gradebook:
        notebook = gradebook.find_notebook(assignment, assignment)
        return {cell.name: float(cell.max_score) for cell in notebook.grade_cells}


def expected_cells(grade: Grade, automatic: dict[str, float] | None = None) -> dict[str, tuple] | None:
    """``{test: (auto score, manual score, extra credit)}`` the gradebook holds for ``grade``, or None
    when it holds nothing (not graded and not overridden). ``automatic`` is the grade's ``tests``
    before the instructor's overrides (:mod:`grader.pipeline.overrides`): a test whose points differ has them
    as its manual score; a notebook's score set by hand is extra credit on its first test."""
    if grade.status != "graded" and not grade.override:
        return None
    automatic = automatic or {}
    cells = {name: (automatic.get(name, points), points if automatic.get(name, points) != points else None, None)
             for name, points in grade.tests.items()}
    extra = round(grade.score - sum(grade.tests.values()), 9)
    if extra and cells:
        first = min(cells)
        cells[first] = (*cells[first][:2], extra)
    return cells


def recorded_cells(course_dir: str | Path, grade: Grade) -> dict[str, tuple] | None:
    """What the gradebook holds for ``grade``'s student and notebook, as :func:`expected_cells`, or None."""
    from nbgrader.api import MissingEntry

    try:
        with _gradebook(course_dir) as gradebook:
            submission = gradebook.find_submission_notebook(grade.notebook, grade.notebook, grade.student_id)
            return {g.name: (g.auto_score, g.manual_score, g.extra_credit) for g in submission.grades}
    except MissingEntry:
        return None


def record(course_dir: str | Path, grade: Grade, automatic: dict[str, float] | None = None) -> None:
    """Write one graded submission's per-test points into the gradebook (replacing any old entry);
    a submission that was not graded, and was not given a score by hand, is removed from it.
    ``automatic``: see :func:`expected_cells`."""
    from nbgrader.api import MissingEntry

    cells = expected_cells(grade, automatic)
    with _gradebook(course_dir) as gradebook:
        try:
            gradebook.remove_submission(grade.notebook, grade.student_id)
        except MissingEntry:
            pass
        if cells is None:
            return
        gradebook.update_or_create_student(grade.student_id)
        gradebook.add_submission(grade.notebook, grade.student_id)
        for name, (auto_score, manual_score, extra_credit) in cells.items():
            cell_grade = gradebook.find_grade(name, grade.notebook, grade.notebook, grade.student_id)
            cell_grade.auto_score, cell_grade.manual_score = auto_score, manual_score
            cell_grade.extra_credit = extra_credit
        gradebook.db.commit()


def sync(course_dir: str | Path, grade: Grade, automatic: dict[str, float] | None = None) -> None:
    """Make the gradebook hold exactly ``grade`` (used when a saved result is reused, and for the
    instructor's overrides; ``automatic``: see :func:`expected_cells`)."""
    expected = expected_cells(grade, automatic)
    if expected is None or recorded_cells(course_dir, grade) != expected:
        record(course_dir, grade, automatic)
