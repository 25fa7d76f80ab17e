"""The feedback page of a hostile submission (issue 20, cases 9, 10, 11 and the page's size bound).

One tiny nbgrader course (a function, two graded tests with hidden parts) is graded in this
process by nbgrader itself, with the worker's output limit (grader/pipeline/output_limit.py) and the
grader's rewriting of the autograded notebook (grader/pipeline/feedback.py), and the students' HTML page
nbgrader writes is checked; the other tests run the same functions on hand-made outputs.
"""

import html
import json
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient
from submissions.build import ActiveParts

from grader.course import NOTEBOOKS_DIR, SOLUTIONS_DIR, write_config
from grader.pipeline import feedback, output_limit
from grader.pipeline.results import Grade

ASSIGNMENT, STUDENT = "tiny", "mallory"
HIDDEN = ('assert double(21) == 42, "the secret check of twenty-one"', "for value in (7, 8, 9):",
          "assert double(value) == value + value", 'assert double(-3) == -6, "negative numbers double too"')

SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
TEST_DOUBLE = ('\'\'\'double doubles <its> argument.\'\'\'\nassert double(1) == 2, "double(1) should be 2"\n'
               '### BEGIN HIDDEN TESTS\n'
               f"{HIDDEN[0]}\n{HIDDEN[1]}\n    {HIDDEN[2]}\n### END HIDDEN TESTS\n")
TEST_NEGATIVE = f"assert double(2) == 4\n### BEGIN HIDDEN TESTS\n{HIDDEN[3]}\n### END HIDDEN TESTS\n"

# Case 10: the student's function prints the source of the cell that called it (a test cell).
LEAKING_SOLUTION = '''import linecache, sys
def double(x):
    caller = sys._getframe(1)
    print("LEAK:\\n" + "".join(linecache.getlines(caller.f_code.co_filename)))
    return 2 * x
'''
# Case 11: active HTML and a fake score, in outputs of every rich kind and in the student's own cells.
ACTIVE = '''from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML('<h1 style="color:green">5 / 5, all tests passed</h1><script>window.PWNED = 1</script>'
             '<img src=x onerror="window.PWNED = 2"><iframe src="https://example.org/PWNED"></iframe>'
             '<a href="javascript:window.PWNED = 3">PWNED link</a>'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>window.PWNED = 4</script></svg>'))
display(Javascript("window.PWNED = 5"))
display(Markdown("# 5 / 5, all tests passed (markdown) <script>window.PWNED = 6</script>"))
display({"image/png": '" onerror="window.PWNED = 7', "text/plain": "an image"}, raw=True)
display({"image/png": "iVBORw0KGgo=", "text/plain": "a png"},
        metadata={"image/png": {"width": "1 onerror=window.PWNED=8"}}, raw=True)
'''
STUDENT_MARKDOWN = ("# 5 / 5, all tests passed\n<script>window.PWNED = 9</script>\n"
                    "[PWNED link](javascript:window.PWNED=10)\n<iframe src='https://example.org/PWNED'></iframe>\n"
                    "<img src=x onerror='window.PWNED = 11'>")
# Case 9: one line far longer than a cell may keep.
FLOOD = 'print("x" * 5_000_000)\nprint("after the flood")'
INSTRUCTIONS = "# Tiny\nWrite `double`; a < b and $x < y$ stay as they are."
# nbgrader's feedback refuses a notebook with these markers in a cell that is not a graded test.
MARKERS = "# my notes\n### BEGIN HIDDEN TESTS\nprint('mine')\n### END HIDDEN TESTS\n"
# The grader's own cell at the end (grader/pipeline/preprocessors.py, AddCaptureCell), with a path of its
# private folder, and a student's cell that prints where it runs (the grader's copy of the course).
GRADER_FOLDER = "/tmp/grade-k3x9q2ab"
CAPTURE = (f"{feedback.GRADER_CELL_FIRST_LINE} (see grader/checks/capture.py). Not part of your notebook.\n"
           f"print({GRADER_FOLDER + '/exchange/fixture-0123abcd.npz'!r})")
# The same cell marked by its metadata only, as the grader marks it (a notebook graded before the mark has none).
MARKED_CAPTURE = f"_grader_capture = {GRADER_FOLDER + '/exchange/fixture-4567efab.npz'!r}\nprint(_grader_capture)"
WHERE = "import os\nprint('running in', os.getcwd())\nprint('and', '/tmp/' + 'grade-k3x9q2ab/course/submitted')"


def _cell(kind, source, grade_id=None, points=None, solution=False):
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if grade_id:
        cell.metadata.nbgrader = {"grade": points is not None, "grade_id": grade_id, "locked": points is not None,
                                  "schema_version": 3, "solution": solution, "task": False}
        if points is not None:
            cell.metadata.nbgrader["points"] = points
    return cell


def _source_notebook():
    notebook = nbformat.v4.new_notebook(cells=[
        _cell("markdown", INSTRUCTIONS), _cell("code", SOLUTION, "answer", solution=True),
        _cell("code", TEST_DOUBLE, "test_double", 2), _cell("code", TEST_NEGATIVE, "test_negative", 1)])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _hostile_submission(release):
    """The released notebook with the leaking answer, and the flood, the active HTML, a markdown
    cell, a raw HTML cell and a cell with hidden-test markers of the student's before the tests."""
    notebook = nbformat.read(str(release), as_version=4)
    answer = next(cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "answer")
    answer.source = LEAKING_SOLUTION
    raw = nbformat.v4.new_raw_cell("<script>window.PWNED = 12</script><h1>5 / 5, all tests passed</h1>",
                                   metadata={"raw_mimetype": "text/html"})
    notebook.cells[2:2] = [nbformat.v4.new_code_cell(FLOOD), nbformat.v4.new_code_cell(ACTIVE),
                           nbformat.v4.new_markdown_cell(STUDENT_MARKDOWN), raw, nbformat.v4.new_code_cell(MARKERS),
                           nbformat.v4.new_code_cell(WHERE)]
    notebook.cells += [nbformat.v4.new_code_cell(CAPTURE),
                       nbformat.v4.new_code_cell(MARKED_CAPTURE, metadata={"grader": feedback.GRADER_CELL_MARK})]
    return notebook


def _nbgrader(course_dir, command, *arguments):
    """Run one nbgrader command through its Python API with the course's configuration (as the worker does)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = getattr(api, command)(*arguments)
    assert result["success"], result.get("log", "") + result.get("error", "")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The tiny course with mallory's hostile submission graded, prepared and its feedback written."""
    course_dir = tmp_path_factory.mktemp("course")
    write_config(course_dir)
    source = course_dir / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(_source_notebook(), str(source))
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(course_dir)
    # The worker's output limit, installed on nbclient for this test only.
    monkeypatch.setattr(NotebookClient, "output", NotebookClient.output)
    monkeypatch.setattr(NotebookClient, "_update_display_id", NotebookClient._update_display_id)
    output_limit.limit_outputs(NotebookClient)
    try:
        _nbgrader(course_dir, "generate_assignment", ASSIGNMENT)
        submitted = course_dir / "submitted" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        submitted.parent.mkdir(parents=True)
        nbformat.write(_hostile_submission(course_dir / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), str(submitted))
        _nbgrader(course_dir, "autograde", ASSIGNMENT, STUDENT)
        autograded = course_dir / "autograded" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        executed = autograded.read_text()
        feedback.prepare_for_feedback(autograded, course_dir, ASSIGNMENT)
        _nbgrader(course_dir, "generate_feedback", ASSIGNMENT, STUDENT)
    finally:
        monkeypatch.undo()
    page = course_dir / "feedback" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.html"
    return {"course_dir": course_dir, "executed": executed, "autograded": autograded, "page": page.read_text()}


def test_the_hostile_submission_keeps_its_points(graded):
    page = graded["page"]
    assert "tiny (Score: 3.0 / 3.0)" in page
    assert page.count("Score: 2.0 / 2.0") == 2 and page.count("Score: 1.0 / 1.0") == 2   # table of contents, cell


def test_case_9_a_cell_keeps_two_megabytes_of_output_and_says_so(graded):
    notebook = nbformat.reads(graded["executed"], as_version=4)
    flood = next(cell for cell in notebook.cells if cell.source == FLOOD)
    text = "".join(output.text for output in flood.outputs)
    assert len(text.encode()) < output_limit.CELL_OUTPUT_MAX_BYTES + 1_000
    assert text.startswith("x" * 1_999_000) and "[output cut at 2 MB: a cell keeps at most 2 MB" in text
    assert "after the flood" not in text
    assert len(graded["executed"]) < 3_000_000 and len(graded["page"]) < 3_000_000
    assert "[output cut at 2 MB" in graded["page"]


def test_case_10_no_line_of_a_hidden_test_in_the_feedback(graded):
    page = html.unescape(graded["page"])
    assert "LEAK:" in page and "double(1) should be 2" in page   # the leak ran; visible test lines stay
    for line in HIDDEN + ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert line not in page
    assert page.count(feedback.HIDDEN_LINE_MARK) >= len(HIDDEN) + 4
    # The autograded notebook kept for the instructors is the one the page was made from.
    autograded = nbformat.read(str(graded["autograded"]), as_version=4)
    outputs = json.dumps([cell.get("outputs", []) for cell in autograded.cells])
    assert not any(line in outputs for line in HIDDEN) and feedback.HIDDEN_LINE_MARK in outputs


def test_case_11_nothing_of_the_submission_acts_or_poses_as_the_score(graded):
    page = graded["page"]
    active = ActiveParts(page)
    assert not [script for script in active.scripts if "PWNED" in script]
    assert all("mathjax" in script.lower() for script in active.scripts)   # the template's own, only
    assert active.handlers == [] and active.urls == [] and active.frames == []
    assert not [heading for heading in active.headings if "5 / 5" in heading or "all tests passed" in heading]
    assert "tiny (Score: 3.0 / 3.0)" in active.headings   # the grader's heading is there
    # The student's cells and outputs are there, as text; the instructor's markdown is rendered.
    assert "A markdown cell you wrote or changed, shown as text" in page and "&lt;script&gt;window.PWNED = 9" in page
    assert "A raw cell you wrote or changed, shown as text" in page
    assert re.search(r"<h1[^>]*>Tiny", page)


def test_preparing_twice_changes_nothing(graded):
    once = graded["autograded"].read_text()
    feedback.prepare_for_feedback(graded["autograded"], graded["course_dir"], ASSIGNMENT)
    assert graded["autograded"].read_text() == once


def test_a_page_made_again_by_collect_is_prepared_and_bounded_too(graded, tmp_path, monkeypatch):
    """``collect`` remakes missing pages from COURSE/autograded: a notebook graded before the grader
    prepared it is prepared then, and a page past the bound (1 MB here; this one has 2 MB) keeps the points."""
    course_dir = tmp_path / "course"
    shutil.copytree(graded["course_dir"], course_dir)
    write_config(course_dir)
    autograded = course_dir / "autograded" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    autograded.write_text(graded["executed"])   # as nbgrader left it
    shutil.rmtree(course_dir / "feedback")
    monkeypatch.setattr(feedback, "FEEDBACK_PAGE_MAX_BYTES", 1_000_000)
    grade = Grade(STUDENT, ASSIGNMENT, score=3.0, max_score=3.0, tests={"test_double": 2.0, "test_negative": 1.0})
    feedback.write_feedback(course_dir, [grade])
    outputs = json.dumps([cell.get("outputs", []) for cell in nbformat.read(str(autograded), as_version=4).cells])
    assert feedback.HIDDEN_LINE_MARK in outputs and not any(line in outputs for line in HIDDEN)
    page = (course_dir / "feedback" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "<h1>tiny: 3 / 3</h1>" in page and "more than the 1 MB a page may hold" in page
    assert "<td><code>test_double</code></td><td>2 / 2</td>" in page and "PWNED" not in page


def test_outputs_past_the_limit_keep_what_fails_a_test():
    budget = output_limit.CellBudget(limit=1_000)
    stream = nbformat.v4.new_output("stream", name="stdout", text="a" * 600)
    assert budget.admit(stream) == [stream]
    kept = budget.admit(nbformat.v4.new_output("stream", name="stdout", text="b" * 600))
    assert [output.text for output in kept] == ["b" * 400, output_limit.NOTICE.format(limit="0.001 MB")]
    assert budget.admit(nbformat.v4.new_output("display_data", data={"text/plain": "late"})) == []
    error = budget.admit(nbformat.v4.new_output("error", ename="AssertionError", evalue="e" * 5_000, traceback=["..."]))
    assert len(error) == 1 and error[0].evalue == "e" * output_limit.FAILURE_KEPT_BYTES   # a failing test stays failing
    assert error[0].traceback == ["AssertionError: " + "e" * output_limit.FAILURE_KEPT_BYTES]
    assert budget.admit(nbformat.v4.new_output("stream", name="stderr", text="more")) == []   # one is enough


def test_a_notebook_keeps_at_most_its_total_of_output():
    """Many cells, each under its own limit, stop at the notebook's; a cell whose output was cleared
    gives its bytes back."""
    notebook = output_limit.NotebookBudget(limit=2_500)
    cells = [output_limit.CellBudget(notebook, limit=1_000) for _ in range(4)]
    kept = [cell.admit(nbformat.v4.new_output("stream", name="stdout", text="z" * 900)) for cell in cells]
    assert [sum(len(output.text) for output in outputs if "z" in output.text) for outputs in kept] == [900, 900, 700, 0]
    assert output_limit.NOTEBOOK_NOTICE.format(limit="0.0025 MB") in kept[2][-1].text and notebook.used == 2_500
    failing = cells[3].admit(nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=[]))
    assert [output.evalue for output in failing] == ["wrong"]   # still fails its test


def test_display_updates_stay_within_their_cells_budget(tmp_path, monkeypatch):
    """A display updated in place (nbclient's _update_display_id, not its output) is limited too; a
    kernel runs the cells."""
    monkeypatch.setattr(NotebookClient, "output", NotebookClient.output)
    monkeypatch.setattr(NotebookClient, "_update_display_id", NotebookClient._update_display_id)
    output_limit.limit_outputs(NotebookClient)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from IPython.display import display\nhandle = display('small', display_id=True)"),
        nbformat.v4.new_code_cell("handle.update('medium')\nhandle.update('y' * 3_000_000)")])
    resources = {"metadata": {"path": str(tmp_path)}}
    client = NotebookClient(notebook, kernel_name="python3", timeout=60, resources=resources)
    client.execute()
    assert notebook.cells[0].outputs[0].data["text/plain"] == "'medium'"   # the 3 MB update was left out


def test_hidden_lines_of_the_course_notebooks():
    read = lambda path: nbformat.read(str(path), as_version=4)   # noqa: E731
    hidden = feedback.hidden_test_lines(read(SOLUTIONS_DIR / "01_mnist_cam.ipynb"),
                                        read(NOTEBOOKS_DIR / "01_mnist_cam.ipynb"))
    assert "from grader import reference" in hidden and "for index in (2, 3, 4):" in hidden
    assert 'plt.close("all")' not in hidden   # also a line of the visible tests: students have it
    assert min(map(len, hidden)) >= feedback.HIDDEN_LINE_MIN_CHARACTERS and len(hidden) == 15
    assert {"### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"} <= hidden   # where the hidden tests are, too
    text = "ok\n\x1b[0;32mfrom\x1b[0m grader import reference  # found\nok too"
    assert feedback.redact_text(text, hidden) == f"ok\n{feedback.HIDDEN_LINE_MARK}\nok too"


def test_rich_outputs_become_text_and_images_lose_what_is_not_base64():
    outputs = [nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg><script>x()</script></svg>"}),
               nbformat.v4.new_output("display_data", data={"image/png": "iVBOR\n", "text/plain": "fig"},
                                      metadata={"image/png": {"width": "1 onerror=x()", "height": 300}}),
               nbformat.v4.new_output("execute_result", data={"text/html": "<b>", "text/plain": "df"},
                                      execution_count=1)]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=outputs)])
    notebook.metadata.widgets = {"state": "..."}
    feedback.outputs_as_text(notebook)
    assert [dict(output.data) for output in outputs] == [
        {"text/plain": "<svg><script>x()</script></svg>"}, {"image/png": "iVBOR\n", "text/plain": "fig"},
        {"text/plain": "df"}]
    assert outputs[1].metadata == {"image/png": {"height": 300}} and "widgets" not in notebook.metadata


def test_a_page_past_its_bound_keeps_the_points(tmp_path):
    page = tmp_path / "01_mnist_cam.html"
    page.write_text("<html>" + "x" * 5_000 + "</html>")
    grade = Grade("s1", "01_mnist_cam", score=3.0, max_score=5.0,
                  tests={"test_show_cam_shape": 1.0, "test_show_cam_values": 2.0, "test_show_cam_predicted_class": 0.0})
    max_scores = {"test_show_cam_shape": 1.0, "test_show_cam_values": 2.0, "test_show_cam_predicted_class": 2.0}
    assert not feedback.bound_page(page, grade, max_scores, limit=10_000) and "x" * 5_000 in page.read_text()
    assert feedback.bound_page(page, grade, max_scores, limit=1_000)
    text = page.read_text()
    assert len(text) < 1_000 and "<h1>01_mnist_cam: 3 / 5</h1>" in text
    assert "<td><code>test_show_cam_values</code></td><td>2 / 2</td>" in text
    assert "<td><code>test_show_cam_predicted_class</code></td><td>0 / 2</td>" in text
    assert "would have been 0.0 MB, more than the 0.001 MB a page may hold" in text


def test_the_summary_names_each_test_with_its_docstring(graded):
    """nbgrader's summary says "Test cell" for every test; the course's names it and says what it checks
    (the docstring, from the source notebook, escaped)."""
    page = graded["page"]
    assert 'href="#test_double"><code>test_double</code></a>: <span class="test-description">double doubles ' \
           "&lt;its&gt; argument.</span>" in page
    assert 'href="#test_negative"><code>test_negative</code></a>' in page and ">Test cell<" not in page
    assert "white-space: pre-wrap" in page   # long lines wrap: a failure message is never cut off the screen


def test_nothing_of_the_grader_is_shown(graded):
    """The capture cell the grader appends and the grader's folders (its private copy of the course, the
    repository) are not on the page; what the student's cell printed is, with the folder written as such."""
    page = html.unescape(graded["page"])
    assert "Added by the grader" not in page and "fixture-0123abcd" not in page
    assert "grader/checks/capture.py" not in page
    assert "_grader_capture" not in page and "fixture-4567efab" not in page   # the cell marked in its metadata
    assert GRADER_FOLDER not in page and str(graded["course_dir"]) not in page and "/tmp/grade-" not in page
    assert f"running in {feedback.GRADER_PATH_MARK}/autograded/{STUDENT}/{ASSIGNMENT}" in page
    assert f"and {feedback.GRADER_PATH_MARK}/course/submitted" in page
    # The instructors' autograded notebook keeps the grader's cells (their outputs with the folder written as such).
    autograded = nbformat.read(str(graded["autograded"]), as_version=4)
    assert [cell.source for cell in autograded.cells[-2:]] == [CAPTURE, MARKED_CAPTURE]
    assert feedback.GRADER_PATH_MARK in autograded.cells[-1].outputs[0].text


def _graded_page(tmp_path, grade):
    page = tmp_path / "feedback" / grade.student_id / grade.notebook / f"{grade.notebook}.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body><h4>01_mnist_cam (Score: 3.0 / 5.0)</h4></body></html>")
    return page


def test_lateness_and_a_cell_out_of_time_are_explained_on_the_page(tmp_path):
    grade = Grade("s1", "01_mnist_cam", score=3.0, max_score=5.0, late=True,
                  reason="failed: test_show_cam_values; cell 23 ran past the 200 s limit for one cell and was "
                         "interrupted")
    page = _graded_page(tmp_path, grade)
    feedback.add_note(tmp_path, grade)
    text = page.read_text()
    assert "<b>Handed in late.</b>" in text and "does not change your points" in text
    assert ("<b>A cell ran out of time.</b> Cell 23 (counting code and text cells from 1) ran longer than the 200 s"
            in text)
    assert text.index("ran out of time") < text.index("<h4>")   # at the top
    on_time = Grade("s2", "01_mnist_cam", score=5.0, max_score=5.0, late=False, reason="all tests passed")
    page = _graded_page(tmp_path, on_time)
    feedback.add_note(tmp_path, on_time)
    assert "<b>" not in page.read_text()


def test_a_refused_hand_in_gets_a_page_saying_what_to_hand_in(tmp_path):
    refused = [Grade("5002", "-", status="refused", reason="John Roe_5002_assignsubmission_file/report.pdf: not a "
                     "notebook (a PDF document); not graded"),
               Grade("5002", "-", status="refused",
                     reason="John Roe_5002_assignsubmission_file/notes.txt: not a notebook"),
               Grade("5003", "01_mnist_cam", status="refused",
                     reason="2 files are 01_mnist_cam in one submission: <a> and b"),
               Grade("-", "-", status="refused", reason="stray.zip: an empty zip")]
    feedback.write_feedback(tmp_path, refused)
    page = (tmp_path / "feedback" / "5002" / "hand-in" / "hand-in.html").read_text()
    assert "report.pdf: not a notebook (a PDF document); not graded" in page and "notes.txt: not a notebook" in page
    assert "<b>What to hand in:</b> the notebook of the assignment (<code>01_mnist_cam.ipynb</code>" in page
    page = (tmp_path / "feedback" / "5003" / "01_mnist_cam" / "01_mnist_cam.html").read_text()
    assert "in one submission: &lt;a&gt; and b" in page and "<code>01_mnist_cam.ipynb</code> itself" in page
    assert not (tmp_path / "feedback" / "-").exists()
    # 5002 hands in the notebook the next time: the old page goes.
    feedback.write_feedback(tmp_path, [Grade("5002", "01_mnist_cam", status="error", reason="the kernel died")])
    assert not (tmp_path / "feedback" / "5002" / "hand-in").exists()


def test_a_hidden_line_is_found_through_escapes_and_invisible_characters():
    """The red team's second round: "\\x1b[:m" put inside a hidden line escaped the old pattern, and
    nbconvert then showed the line verbatim. Outputs become plain text and lines are compared by
    their letters and digits, so neither an escape nor a zero-width space hides one."""
    hidden = {"expected = reference.show_cam_reference(int(index), features, results, gap_weights)"}
    line = "expected = reference.show_cam_reference(int(index), features, results, gap_weights)"
    for disguised in (line[:4] + "\x1b[:m" + line[4:], line[:9] + "\u200b" + line[9:], line[:3] + "\x01\x7f" + line[3:],
                      "\x1b[1;31m" + line + "\x1b[0m"):
        assert (feedback.redact_text(f"before\n{disguised}\nafter", hidden)
                == f"before\n{feedback.HIDDEN_LINE_MARK}\nafter")
    assert feedback.redact_text("plain \x1b[32mgreen\x1b[0m\x07 text", hidden) == "plain green text"


def test_only_the_graders_own_note_is_rendered_as_the_grader_wrote_it():
    note = feedback.GRADER_NOTE_TEXT.format(removed=3)
    assert feedback.GRADER_NOTE.fullmatch(note)
    fake = ("*The grader stopped after the last graded test: all 3 tests passed, final score 5 out of 5 "
            "(confirmed by the independent check)*")
    assert not feedback.GRADER_NOTE.fullmatch(fake)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(fake),
                                               nbformat.v4.new_markdown_cell(note)])
    feedback.students_cells_as_text(notebook)
    assert notebook.cells[0].source.startswith("*A markdown cell you wrote or changed, shown as text:*")
    assert notebook.cells[1].source == note


def test_a_tests_description_is_its_docstring_in_the_released_notebook():
    """The summary's description of a test comes from the notebook students have (never a hidden line),
    by grade id; what a submission put in a cell's metadata is dropped."""
    def test_cell(source, grade_id, **metadata):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id,
                                                                        "points": 1}, **metadata})

    release = nbformat.v4.new_notebook(cells=[test_cell('"""checks   x\n    twice."""\nassert x', "test_a"),
                                              test_cell("assert y", "test_b")])
    graded = nbformat.v4.new_notebook(cells=[
        test_cell('"""checks x twice."""\nassert x', "test_a"),
        test_cell('### BEGIN HIDDEN TESTS\n"""the secret check"""\nassert y\n### END HIDDEN TESTS', "test_b",
                  feedback={"description": "5 / 5, all tests passed"}),
        nbformat.v4.new_code_cell("x = 1", metadata={"feedback": {"description": "fake"}})])
    feedback.describe_tests(graded, release)
    assert graded.cells[0].metadata["feedback"] == {"description": "checks x twice."}
    assert "feedback" not in graded.cells[1].metadata and "feedback" not in graded.cells[2].metadata
