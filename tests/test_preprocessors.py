"""The grader's nbgrader preprocessors (grader/pipeline/preprocessors.py), on small notebooks: a
kernel of this environment runs GraderExecute's cells."""

import nbformat
from nbformat import v4

from grader.pipeline import feedback, preprocessors
from grader.pipeline.preprocessors import AddCaptureCell, DropCellsAfterLastTest, GraderExecute


def _test_cell(source, grade_id):
    return v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": 1}})


def test_a_cell_past_its_limit_is_marked_and_the_notebook_goes_on(tmp_path):
    notebook = v4.new_notebook(cells=[
        v4.new_code_cell("print('a')"), v4.new_markdown_cell("text"),
        v4.new_code_cell("import time\nprint('before')\nwhile True:\n    time.sleep(0.01)"),
        v4.new_code_cell("print('after')")])
    preprocessors.PHASE_MARKS.clear()
    preprocessors.TIMED_OUT_CELLS.clear()
    client = GraderExecute(timeout=2, kernel_name="python3", raise_on_iopub_timeout=False, shutdown_kernel="immediate")
    client.preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    assert preprocessors.TIMED_OUT_CELLS == [3]
    outputs = notebook.cells[2].outputs
    message = "cell 3 ran past the 2 s limit for one cell and was interrupted; the notebook went on with the next cell"
    assert [output.output_type for output in outputs] == ["stream", "error", "error"]
    assert (outputs[1].ename, outputs[1].evalue, outputs[1].traceback) == ("CellTimeoutError", message,
                                                                           [f"CellTimeoutError: {message}"])
    assert outputs[2].ename == "KeyboardInterrupt"   # the interrupt's own error comes after the mark
    assert notebook.cells[3].outputs[0].text == "after\n"
    marks = preprocessors.PHASE_MARKS
    assert marks["kernel"] < marks["ready"] < marks["cells_done"] <= marks["stopped"]
    assert marks["cells_done"] - marks["ready"] >= 2


def test_cells_after_the_last_test_are_dropped_and_the_capture_cell_added():
    notebook = v4.new_notebook(cells=[v4.new_code_cell("x = 1"), _test_cell("assert x == 1", "test_x"),
                                      v4.new_code_cell("while True: pass"), v4.new_markdown_cell("done")])
    untouched = nbformat.from_dict(notebook)
    assert DropCellsAfterLastTest()(untouched, {})[0].cells == notebook.cells   # off unless turned on
    assert AddCaptureCell()(untouched, {})[0].cells == notebook.cells   # no source: no cell
    DropCellsAfterLastTest(enabled=True)(notebook, {})
    AddCaptureCell(source="capture()")(notebook, {})
    assert [cell.source for cell in notebook.cells] == ["x = 1", "assert x == 1",
                                                        feedback.GRADER_NOTE_TEXT.format(removed=2), "capture()"]
    assert notebook.cells[2].cell_type == "markdown"
    assert notebook.cells[3].metadata == {"grader": feedback.GRADER_CELL_MARK}
