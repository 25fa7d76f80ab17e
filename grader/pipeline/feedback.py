"""The feedback students read: ``COURSE/feedback/<student_id>/<notebook>/<notebook>.html``.

nbgrader writes the page of a graded notebook with the course's template (grader/templates/feedback:
each test named with its docstring in the summary, long lines wrapped, the grader's capture cell
left out); a notebook that could not be graded gets a short page with the reason, a refused
hand-in one with each reason and what to hand in (:func:`write_refused_pages`); boxes at the top
explain a test that passed in the notebook but not the independent check, a cell stopped at its
time limit and lateness (:func:`page_notes`). The pages go back to the students through Moodle's
feedback zip or named for Canvas (:mod:`grader.export.feedback_files`).

Before nbgrader writes it, :func:`prepare_for_feedback` rewrites the autograded notebook (the
one kept in ``COURSE/autograded`` too, so a page made again from it is the same): no line of a
hidden test in any output, a submission's HTML, JavaScript, SVG and markdown (outputs, and the
markdown cells it wrote) shown as text, graded tests' tracebacks cut to their last line, the
grader's folders in outputs written as :data:`GRADER_PATH_MARK`, each test's docstring put where
the template finds it. A page larger than :data:`FEEDBACK_PAGE_MAX_BYTES` is replaced by one with
the points only (:func:`bound_page`).

Neither is one of nbgrader's ``GenerateFeedback.preprocessors`` (the grader's own preprocessors, for
autograding, are in :mod:`grader.pipeline.preprocessors`): a preprocessor changes only the copy
nbgrader turns into the page, while the instructors' ``COURSE/autograded`` notebook must be the
rewritten one (no hidden test line in it either, and a page made again from it is the same); and
:func:`add_note` and :func:`bound_page` change the HTML nbconvert wrote, from what the grader knows
and nbgrader's gradebook does not hold (the independent check's verdict, a cell stopped at its
limit, the LMS's late flag, the page's size), also for a page ``collect`` makes again for a whole
assignment in one ``generate_feedback``.
"""

from __future__ import annotations

import ast
import html
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbformat import NotebookNode

from grader.course import REPO_ROOT, assignment_names, run_nbgrader, tail
from grader.export.feedback_files import write_canvas_files, write_moodle_zip
from grader.pipeline import gradebook

if TYPE_CHECKING:
    from grader.pipeline.results import Grade

# A line of a hidden test counts from 12 characters (stripped): shorter lines are the common
# stuff of any code (")", "try:", "else:", "finally:", "return cam", "plt.show()") and say nothing
# of a test, while every hidden line of the course that students do not have already (the
# released notebook's lines are left out) has 20 or more, the BEGIN/END markers included. An
# output line that contains one is replaced, whole, by HIDDEN_LINE_MARK.
HIDDEN_LINE_MIN_CHARACTERS = 12
HIDDEN_LINE_MARK = "[a line of a hidden test was removed]"
# What a display keeps: text and the two image formats whose base64 the page embeds in an <img>.
SHOWN_MIMETYPES = ("text/plain", "image/png", "image/jpeg")
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
# Outputs reach the page as plain text: every control sequence (ECMA-48 CSI, possessive: no
# backtracking on a crafted one) and then every other control character but tab and newline go.
# nbconvert would turn escapes it knows into colours, and drop some the redaction did not know
# ("\x1b[:m" in the middle of a hidden line showed it verbatim: the red team's second round).
CONTROL_SEQUENCE = re.compile(r"\x1b\[[0-?]*+[ -/]*+[@-~]")
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Lines are compared by their letters and digits only: characters a browser does not show (zero-width
# spaces, control characters) or punctuation put into a hidden line do not hide it.
NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]+")
# The grader's own note at the end of a notebook whose last cells were not run (grader/pipeline/autograde.py),
# word for word: a student's cell in its words is shown as text like any other.
GRADER_NOTE_TEXT = ("*The grader stopped after the last graded test: the {removed} cell(s) after it were not run, "
                    "since they cannot change the grade.*")
GRADER_NOTE = re.compile(re.escape(GRADER_NOTE_TEXT).replace(re.escape("{removed}"), r"[1-9][0-9]*"))
SHOWN_AS_TEXT = re.compile(r"\*A (markdown|raw) cell you wrote or changed, shown as text:\*\n\n(`{3,})\n(.*)\n\2", re.S)
# The cell the grader appends to run the independent check (grader/checks/capture.py, CAPTURE_TEMPLATE): its
# metadata "grader" says so, and its first line (notebooks graded before the mark). The page's template
# leaves it out (grader/templates/feedback, any_cell; the autograded notebook keeps it for the instructor).
GRADER_CELL_MARK = "independent-check-capture"
GRADER_CELL_FIRST_LINE = "# Added by the grader: the independent check"
# What an output shows instead of a folder of the grader (its private course copy, the repository).
GRADER_PATH_MARK = "[grader's folder]"
# A feedback page above 20 MB (images included: the page embeds them) is replaced by one with the
# points only. Each cell keeps at most 2 MB of output (grader/pipeline/output_limit.py), so only a notebook
# with many full cells, or huge cells of its own, gets there; the solutions' pages are 0.7-1.6 MB.
FEEDBACK_PAGE_MAX_BYTES = 20_000_000

log = logging.getLogger(__name__)


def redact_test_tracebacks(notebook: NotebookNode) -> None:
    """Keep only ``ExceptionName: message`` of errors in graded test cells of ``notebook``:
    a traceback's context lines would show hidden test code in the feedback."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]


def hidden_test_lines(source: NotebookNode, release: NotebookNode) -> set[str]:
    """The stripped lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS`` (these two
    included) of the ``source`` notebook that students do not have (not a line of the ``release``
    notebook) and have at least :data:`HIDDEN_LINE_MIN_CHARACTERS` characters."""
    public = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    hidden = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            inside = inside or "### BEGIN HIDDEN TESTS" in line
            if inside and len(line.strip()) >= HIDDEN_LINE_MIN_CHARACTERS and line.strip() not in public:
                hidden.add(line.strip())
            inside = inside and "### END HIDDEN TESTS" not in line
    return hidden


def plain_text(text: str) -> str:
    """``text`` as the page shows it: no control sequence, no control character but tab and newline."""
    return CONTROL_CHARACTER.sub("", CONTROL_SEQUENCE.sub("", text))


def redact_text(text: str, hidden_lines: set[str]) -> str:
    """``text`` as plain text (:func:`plain_text`), each line that holds one of ``hidden_lines``
    (compared by their letters and digits) replaced by :data:`HIDDEN_LINE_MARK`."""
    if not isinstance(text, str):
        return text
    text = plain_text(text)
    hidden = [skeleton for skeleton in (NOT_ALPHANUMERIC.sub("", line) for line in hidden_lines) if skeleton]
    whole = NOT_ALPHANUMERIC.sub("", text)   # once: an output may hold 2 MB
    if not any(skeleton in whole for skeleton in hidden):
        return text
    lines = text.split("\n")
    skeletons = [NOT_ALPHANUMERIC.sub("", line) for line in lines]
    return "\n".join(HIDDEN_LINE_MARK if any(skeleton in line_skeleton for skeleton in hidden) else line
                     for line, line_skeleton in zip(lines, skeletons))


def redact_hidden_lines(notebook: NotebookNode, hidden_lines: set[str]) -> None:
    """Pass every output of every cell through :func:`redact_text`: stream text, every text of a
    display or result, an error's name, value and traceback."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = redact_text(output.text, hidden_lines)
            elif output.output_type == "error":
                output.ename = redact_text(output.ename, hidden_lines)
                output.evalue = redact_text(output.evalue, hidden_lines)
                output.traceback = [redact_text(line, hidden_lines) for line in output.traceback]
            else:
                for mimetype, value in output.get("data", {}).items():
                    if mimetype not in ("image/png", "image/jpeg"):
                        output.data[mimetype] = redact_text(value, hidden_lines)


def _is_shown(mimetype, value):
    """Whether a display keeps ``mimetype``: its text, and images whose data is only base64."""
    return mimetype == "text/plain" or (mimetype in SHOWN_MIMETYPES and isinstance(value, str)
                                        and bool(BASE64.fullmatch(value)))


def _as_text(output):
    """Reduce a display or result to :data:`SHOWN_MIMETYPES`; without text of its own, the source of
    what was dropped (HTML, SVG, JavaScript, ...) becomes its text. Its metadata keeps only the
    images' numeric width and height (the page writes them into the <img> tag unquoted)."""
    data = output.get("data", {})
    kept = {mimetype: value for mimetype, value in data.items() if _is_shown(mimetype, value)}
    dropped = [value for mimetype, value in data.items() if mimetype not in kept]
    text = kept.get("text/plain", dropped[0] if dropped else None)
    if text is not None:
        kept["text/plain"] = text if isinstance(text, str) else json.dumps(text, default=str)
    metadata = output.get("metadata", {})
    output.data = kept
    output.metadata = {mimetype: {name: value for name, value in metadata[mimetype].items()
                                  if name in ("width", "height") and type(value) in (int, float)}
                       for mimetype in kept
                       if mimetype.startswith("image/") and isinstance(metadata.get(mimetype), dict)}


def outputs_as_text(notebook: NotebookNode) -> None:
    """Every display and result of ``notebook`` through :func:`_as_text`; widgets' state dropped."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type in ("display_data", "execute_result"):
                _as_text(output)
    notebook.metadata.pop("widgets", None)


def _cell_key(cell):
    return cell.cell_type, cell.source, json.dumps(cell.get("attachments", {}), sort_keys=True)


def _longest_backticks(text):
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _shown_as_text(source):
    """Whether a markdown cell's ``source`` is already one of :func:`students_cells_as_text`'s
    (an italic line, then one code block no line of its text can close), so it stays as it is."""
    match = SHOWN_AS_TEXT.fullmatch(source)
    return bool(match) and _longest_backticks(match.group(3)) < len(match.group(2))


def students_cells_as_text(notebook: NotebookNode, *course_notebooks: NotebookNode) -> None:
    """Each markdown or raw cell of ``notebook`` that is not a cell of ``course_notebooks`` (the
    source and the released notebook) nor the grader's note becomes a markdown cell that shows its
    text in a code block: its HTML, scripts, links and headings do nothing in the feedback."""
    known = {_cell_key(cell) for course_notebook in course_notebooks for cell in course_notebook.cells}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" or _cell_key(cell) in known:
            continue
        if cell.cell_type == "markdown" and (GRADER_NOTE.fullmatch(cell.source) or _shown_as_text(cell.source)):
            continue
        fence = "`" * max(3, 1 + _longest_backticks(cell.source))
        text = f"*A {cell.cell_type} cell you wrote or changed, shown as text:*\n\n{fence}\n{cell.source}\n{fence}"
        notebook.cells[index] = nbformat.v4.new_markdown_cell(text)
        if "id" in cell:
            notebook.cells[index].id = cell.id


def disarm_hidden_test_markers(notebook: NotebookNode) -> None:
    """Outside graded test cells, write the markers ``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS``
    with an underscore: nbgrader's feedback refuses a notebook with a marker in a cell of the
    student's, and a student's cell must not cost its author the page (nor the class a second pass)."""
    for cell in notebook.cells:
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = re.sub(r"(BEGIN|END) HIDDEN TESTS", r"\1 HIDDEN_TESTS", cell.source)


def test_description(source: str) -> str:
    """The docstring of a test cell's ``source`` (its first string literal), on one line, or ""."""
    try:
        docstring = ast.get_docstring(ast.parse(source)) or ""
    except (SyntaxError, ValueError):
        match = re.match(r"\s*(?:'{3}|\"{3})(.*?)(?:'{3}|\"{3})", source, re.S)
        docstring = match.group(1) if match else ""
    return " ".join(docstring.split())


def describe_tests(notebook: NotebookNode, release: NotebookNode) -> None:
    """Put each graded test's docstring, taken from the ``release`` notebook (by grade id: what
    students have, so never a line of a hidden test), in its cell's ``metadata.feedback.description``:
    the page's summary names each test with it (grader/templates/feedback). Whatever a submission
    wrote there is dropped."""
    descriptions = {cell.metadata["nbgrader"]["grade_id"]: test_description(cell.source) for cell in release.cells
                    if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}
    for cell in notebook.cells:
        cell.metadata.pop("feedback", None)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell.metadata.get("nbgrader", {}).get("grade") \
            else None
        if descriptions.get(grade_id):
            cell.metadata["feedback"] = {"description": descriptions[grade_id]}


def grader_path_pattern(*roots: str | Path) -> re.Pattern:
    """A pattern for the folders of the grader that outputs may name: the private course copies
    (``<temporary folder>/grade-*``), the repository (``grader/``, the environment) and ``roots``."""
    folders = [re.escape(str(Path(tempfile.gettempdir()).resolve())) + r"/grade-[A-Za-z0-9_]+",
               re.escape(tempfile.gettempdir().rstrip("/")) + r"/grade-[A-Za-z0-9_]+", r"/tmp/grade-[A-Za-z0-9_]+"]
    folders += [re.escape(str(Path(root).resolve())) for root in (REPO_ROOT, *roots)]
    return re.compile("(?:" + "|".join(sorted(set(folders), key=len, reverse=True)) + ")(?![A-Za-z0-9_.-])")


def redact_grader_paths(notebook: NotebookNode, pattern: re.Pattern) -> None:
    """Write each of the grader's folders (``pattern``, :func:`grader_path_pattern`) in the outputs
    of ``notebook`` as :data:`GRADER_PATH_MARK`: a traceback of a student's cell names the grader's
    private copy of the course; the page shows what is under it, not where it is."""
    def shorten(text):
        return pattern.sub(GRADER_PATH_MARK, text) if isinstance(text, str) else text

    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = shorten(output.text)
            elif output.output_type == "error":
                output.ename, output.evalue = shorten(output.ename), shorten(output.evalue)
                output.traceback = [shorten(line) for line in output.traceback]
            else:
                for mimetype, value in output.get("data", {}).items():
                    if mimetype not in ("image/png", "image/jpeg"):
                        output.data[mimetype] = shorten(value)


def prepare_for_feedback(path: str | Path, course_dir: str | Path, assignment: str) -> None:
    """Rewrite the autograded notebook at ``path`` for the feedback (see the module's docstring);
    ``course_dir`` holds the assignment's ``source/`` and ``release/`` notebooks. Idempotent."""
    notebook = nbformat.read(str(path), as_version=4)
    source, release = (nbformat.read(str(Path(course_dir) / step / assignment / f"{assignment}.ipynb"), as_version=4)
                       for step in ("source", "release"))
    redact_test_tracebacks(notebook)
    outputs_as_text(notebook)
    students_cells_as_text(notebook, source, release)
    disarm_hidden_test_markers(notebook)
    redact_hidden_lines(notebook, hidden_test_lines(source, release))
    redact_grader_paths(notebook, grader_path_pattern(course_dir))
    describe_tests(notebook, release)
    os.chmod(path, 0o644)  # nbgrader leaves autograded notebooks read-only
    nbformat.write(notebook, str(path))


def bound_page(page: str | Path, grade: Grade, max_scores: dict[str, float], limit: int | None = None) -> bool:
    """Replace the feedback ``page`` by one with ``grade``'s score and each test's points
    (``max_scores``: test -> points) when it is larger than ``limit`` bytes (default
    :data:`FEEDBACK_PAGE_MAX_BYTES`); return whether it was."""
    limit = FEEDBACK_PAGE_MAX_BYTES if limit is None else limit
    size = Path(page).stat().st_size
    if size <= limit:
        return False
    write_points_page(page, grade, max_scores, f"Your feedback page would have been {size / 1e6:.1f} MB, more than the "
                      f"{limit / 1e6:g} MB a page may hold (your notebook's outputs or cells are too large to show), "
                      "so it shows only your points.")
    return True


def write_points_page(page: str | Path, grade: Grade, max_scores: dict[str, float], explanation: str) -> None:
    """Write a short feedback ``page``: the score, ``explanation``, and each test's points."""
    rows = "".join(f"<tr><td><code>{html.escape(name)}</code></td>"
                   f"<td>{grade.tests.get(name, 0.0):g} / {points:g}</td></tr>" for name, points in max_scores.items())
    Path(page).parent.mkdir(parents=True, exist_ok=True)
    Path(page).write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback</title></head><body>"
        f"<h1>{html.escape(grade.notebook)}: {grade.score:g} / {grade.max_score:g}</h1>"
        f"<p>{html.escape(explanation)}</p>"
        f"<table><tr><th>test</th><th>points</th></tr>{rows}</table></body></html>\n")


def _feedback_page(course_dir, grade):
    return Path(course_dir) / "feedback" / grade.student_id / grade.notebook / f"{grade.notebook}.html"


def write_failure_page(course_dir: str | Path, grade: Grade) -> None:
    page = _feedback_page(course_dir, grade)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback</title></head><body>"
        f"<h1>{html.escape(grade.notebook)}: {grade.score:g} / {grade.max_score:g}</h1>"
        f"<p>Your notebook could not be graded: {html.escape(grade.reason)}.</p></body></html>\n"
    )


# "cell 12 ran past the 200 s limit for one cell and was interrupted" (grader/pipeline/autograde.py, _run_autograde).
CELL_LIMIT_REASON = re.compile(r"cells? (?P<cells>[\d, ]+) ran past the (?P<limit>[\d.]+) s limit for one cell")


def page_notes(grade: Grade) -> list[tuple[str, str]]:
    """``(title, text)`` of each thing the page must explain at its top: the independent check
    (``grade.note``), a cell stopped at the time limit of one cell, and lateness."""
    notes = []
    if grade.note:
        notes.append(("Independent check.", grade.note))
    stopped = CELL_LIMIT_REASON.search(grade.reason or "")
    if stopped:
        notes.append(("A cell ran out of time.", (
            f"Cell {stopped['cells'].strip()} (counting code and text cells from 1) ran longer than the "
            f"{float(stopped['limit']):g} s a cell may run, so it was interrupted and the rest of your notebook ran "
            "without what it would have done: tests that needed it failed. Look for a loop that never ends or "
            "work done far more often than needed (training, a whole data set where a few images are enough), "
            "and run your notebook from the top (Restart & Run All) to see how long each cell takes.")))
    if grade.late:
        notes.append(("Handed in late.", (
            "Your course's platform marked this hand-in as late. The grader does not change your points for "
            "it; your instructor decides what lateness costs.")))
    return notes


REFUSED_PAGE = "hand-in"   # the page of a refused hand-in that is no notebook of the course: feedback/<id>/hand-in/


def refused_page(course_dir: str | Path, student_id: str, notebook: str) -> Path:
    """Where the page of ``student_id``'s refused hand-in goes: under the notebook's name when the
    grader could tell which notebook it was, else under :data:`REFUSED_PAGE`."""
    name = notebook if notebook in assignment_names() else REFUSED_PAGE
    return Path(course_dir) / "feedback" / student_id / name / f"{name}.html"


def write_refused_pages(course_dir: str | Path, grades: list[Grade]) -> None:
    """A page for each student with a refused hand-in (``grades`` with status ``refused``): what was
    wrong (each reason), and what to hand in instead. A refusal without a student (an entry of the
    download no student's name or id could be read from) gets none. The page of an earlier run's
    refusal is removed for every student of ``grades`` (who handed in a notebook since)."""
    reasons = {}
    for student_id in {grade.student_id for grade in grades} - {"", "-"}:   # a page of an earlier run's refusal goes
        shutil.rmtree(Path(course_dir) / "feedback" / student_id / REFUSED_PAGE, ignore_errors=True)
    for grade in grades:
        if grade.status == "refused" and grade.student_id not in ("", "-"):
            page = refused_page(course_dir, grade.student_id, grade.notebook)
            reasons.setdefault(page, (grade.notebook, []))[1].append(grade.reason or "")
    for page, (notebook, page_reasons) in reasons.items():
        wanted = (f"<code>{html.escape(notebook)}.ipynb</code>" if notebook in assignment_names() else
                  "the notebook of the assignment (" + ", ".join(f"<code>{html.escape(name)}.ipynb</code>"
                                                           for name in assignment_names()) + ")")
        items = "".join(f"<li>{html.escape(reason)}</li>" for reason in page_reasons)
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback</title></head><body>"
            "<h1>What you handed in was not graded</h1>"
            f"<p>The grader could not grade this:</p><ul>{items}</ul>"
            f"<p><b>What to hand in:</b> {wanted} itself, the Jupyter notebook file, as Jupyter saves it "
            "(in JupyterLab: File &gt; Download), one file per notebook. A PDF, an HTML or Python export, a "
            "screenshot or a copy of the code in a text entry cannot be graded: the grader runs your notebook. "
            "Hand it in again through the course's platform, or ask your instructor if the deadline has passed.</p>"
            "</body></html>\n")


def add_note(course_dir: str | Path, grade: Grade) -> None:
    """Put :func:`page_notes` in boxes at the top of nbgrader's feedback page (none: the page is left as is)."""
    page = _feedback_page(course_dir, grade)
    notes = page_notes(grade)
    if not page.is_file() or not notes:
        return
    text = page.read_text()
    boxes = "".join("<div style='border:2px solid #c00;padding:0.5em 1em;margin:1em'>"
                    f"<b>{html.escape(title)}</b> {html.escape(body)}</div>" for title, body in notes)
    match = re.search(r"<body[^>]*>", text)
    if match:
        page.write_text(text[:match.end()] + boxes + text[match.end():])


def write_feedback(course_dir: str | Path, grades: list[Grade]) -> None:
    """The pages :func:`grader.pipeline.autograde.grade_submission` did not write: nbgrader's, for the
    graded notebooks of an assignment when one of them has no page (results graded elsewhere or
    before), a short page for each notebook that could not be graded, and one for each student
    whose hand-in was refused (:func:`write_refused_pages`).
    """
    regenerated = set()
    for assignment in sorted({g.notebook for g in grades if g.status == "graded"}):
        graded = [g for g in grades if g.notebook == assignment and g.status == "graded"]
        if all(_feedback_page(course_dir, g).is_file() for g in graded):
            continue
        regenerated.add(assignment)
        for grade in graded:   # done when it was graded; again for notebooks graded before the grader did it
            autograded = Path(course_dir) / "autograded" / grade.student_id / assignment / f"{assignment}.ipynb"
            if autograded.is_file():
                prepare_for_feedback(autograded, course_dir, assignment)
        result = run_nbgrader(["generate_feedback", assignment, "--force"], course_dir, timeout_seconds=900)
        if result.returncode != 0:
            log.warning("nbgrader could not write feedback for %s: %s", assignment, tail(result.stdout, 1))
        max_scores = gradebook.max_scores(course_dir, assignment)
        for grade in graded:
            if _feedback_page(course_dir, grade).is_file():
                bound_page(_feedback_page(course_dir, grade), grade, max_scores)
    write_refused_pages(course_dir, grades)
    for grade in grades:
        if grade.status not in ("graded", "refused"):
            write_failure_page(course_dir, grade)
        elif grade.notebook in regenerated:
            add_note(course_dir, grade)
    returned = write_moodle_zip(course_dir)
    if returned:
        print(f"feedback for Moodle: {returned[0]} ({returned[1]} page(s)); upload it in View all submissions > "
              "Grading action > Upload multiple feedback files in a zip")
    returned = write_canvas_files(course_dir)
    if returned:
        print(f"feedback for Canvas: {returned[0]} ({returned[1]} page(s), named <name>_<user id>_<page>); attach each "
              "to its student's submission comment in SpeedGrader (README: Feedback back to students)")
