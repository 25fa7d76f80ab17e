"""The feedback students read: ``COURSE/feedback/<student_id>/<notebook>/<notebook>.html``.

nbgrader writes the page of a graded notebook (each test's points and message, hidden test
code left out); a notebook that could not be graded gets a short page with the reason; a
test that passed in the notebook but not the independent check gets a box at the top.
"""

import html
import os
import re
from pathlib import Path

import nbformat

from grader.course import run_nbgrader, tail


def redact_test_tracebacks(path):
    """Keep only ``ExceptionName: message`` of errors in graded test cells of the notebook at
    ``path``: a traceback's context lines would show hidden test code in the feedback."""
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
    os.chmod(path, 0o644)  # nbgrader leaves autograded notebooks read-only
    nbformat.write(notebook, str(path))


def _feedback_page(course_dir, grade):
    return Path(course_dir) / "feedback" / grade.student_id / grade.notebook / f"{grade.notebook}.html"


def write_failure_page(course_dir, grade):
    page = _feedback_page(course_dir, grade)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback</title></head><body>"
        f"<h1>{html.escape(grade.notebook)}: {grade.score:g} / {grade.max_score:g}</h1>"
        f"<p>Your notebook could not be graded: {html.escape(grade.reason)}.</p></body></html>\n"
    )


def add_note(course_dir, grade):
    """Put ``grade.note`` in a box at the top of nbgrader's feedback page."""
    page = _feedback_page(course_dir, grade)
    if not page.is_file():
        return
    text = page.read_text()
    box = ("<div style='border:2px solid #c00;padding:0.5em 1em;margin:1em'><b>Independent check.</b> "
           f"{html.escape(grade.note)}</div>")
    match = re.search(r"<body[^>]*>", text)
    if match:
        page.write_text(text[:match.end()] + box + text[match.end():])


def write_feedback(course_dir, grades):
    """The pages :func:`grader.autograde.grade_submission` did not write: nbgrader's, for the
    graded notebooks of an assignment when one of them has no page (results graded elsewhere or
    before), and a short page for each notebook that could not be graded.
    """
    regenerated = set()
    for assignment in sorted({g.notebook for g in grades if g.status == "graded"}):
        graded = [g for g in grades if g.notebook == assignment and g.status == "graded"]
        if all(_feedback_page(course_dir, g).is_file() for g in graded):
            continue
        regenerated.add(assignment)
        result = run_nbgrader(["generate_feedback", assignment, "--force"], course_dir, timeout_seconds=900)
        if result.returncode != 0:
            print(f"warning: nbgrader could not write feedback for {assignment}: {tail(result.stdout, 1)}")
    for grade in grades:
        if grade.status not in ("graded", "refused"):
            write_failure_page(course_dir, grade)
        elif grade.note and grade.notebook in regenerated:
            add_note(course_dir, grade)
