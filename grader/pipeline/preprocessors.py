"""The grader's nbgrader preprocessors, registered in the course's nbgrader configuration
(grader/nbgrader_config.py: ``Autograde.sanitize_preprocessors`` and ``autograde_preprocessors``).

- :class:`DropCellsAfterLastTest` and :class:`AddCaptureCell` run first in nbgrader's sanitize
  step, on the notebook as it was handed in (what the grader used to write into nbgrader's
  ``submitted/`` folder): the cells after the last graded test go, with a note saying so, and
  the independent check's capture cell is appended. Both do nothing unless the grader turns them
  on for a notebook (``DropCellsAfterLastTest.enabled``, ``AddCaptureCell.source``), so
  ``nbgrader autograde`` run by hand in a course folder grades as nbgrader does.
- :class:`GraderExecute` is nbgrader's ``Execute`` with nbclient's public hooks: it records when
  the kernel starts, is ready, ends its last cell and is stopped (:data:`PHASE_MARKS`, read by
  the worker, :mod:`grader.pipeline.worker`), marks a cell interrupted at the limit for one cell
  (:data:`TIMED_OUT_CELLS`) and keeps each cell's output within its budget
  (:class:`grader.pipeline.output_limit.OutputLimit`).

The notebook's own rewriting for the feedback (:func:`grader.pipeline.feedback.prepare_for_feedback`)
and the notes at the top of the page (:func:`grader.pipeline.feedback.add_note`) are not
preprocessors: see :mod:`grader.pipeline.feedback`.
"""

from __future__ import annotations

import time

import nbformat
from jupyter_client import KernelManager
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Unicode

from grader.course import drop_cells_after_last_test
from grader.pipeline.feedback import GRADER_CELL_MARK, GRADER_NOTE_TEXT
from grader.pipeline.output_limit import OutputLimit

# Seconds (time.monotonic) of the last notebook GraderExecute ran in this process: "kernel" (it
# starts the kernel), "ready" (its client is connected), "cells_done" (its last cell has run, or
# failed), "stopped" (the kernel is stopped). The worker clears them before each notebook.
PHASE_MARKS: dict[str, float] = {}
# The numbers (from 1, counting every cell) of the cells interrupted at the limit for one cell.
TIMED_OUT_CELLS: list[int] = []


class DropCellsAfterLastTest(NbGraderPreprocessor):
    """Drop the cells after the last graded test (they cannot change the grade) and say so in a
    markdown cell at the end (:data:`grader.pipeline.feedback.GRADER_NOTE_TEXT`). Off unless the
    grader turns it on."""

    enabled = Bool(False).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        removed = drop_cells_after_last_test(nb.cells)
        if removed:
            nb.cells.append(nbformat.v4.new_markdown_cell(GRADER_NOTE_TEXT.format(removed=removed)))
        return nb, resources


class AddCaptureCell(NbGraderPreprocessor):
    """Append the independent check's capture cell (:mod:`grader.checks.capture`), marked as the
    grader's (the feedback page leaves it out: grader/templates/feedback, any_cell). The grader
    sets its ``source`` for each notebook of an exercise with a check; empty, nothing is added."""

    source = Unicode("", help="The capture cell's code; empty: no cell.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        if self.source:
            nb.cells.append(nbformat.v4.new_code_cell(self.source, metadata={"grader": GRADER_CELL_MARK}))
        return nb, resources


def timeout_message(number: int, timeout: float) -> str:
    """The error a cell interrupted at the limit for one cell gets (its number counts from 1)."""
    return (f"cell {number} ran past the {timeout:g} s limit for one cell and was interrupted; "
            "the notebook went on with the next cell")


class GraderExecute(OutputLimit, Execute):
    """nbgrader's ``Execute`` (configured as ``c.Execute``) that records the phases of a notebook
    and marks the cells interrupted at the limit for one cell.

    A cell past ``timeout`` is interrupted (``interrupt_on_timeout``) and nbclient answers for it
    with nbgrader's ``error_on_timeout`` reply, which no kernel sends (it has no header): in
    :meth:`on_cell_executed` the cell then gets an error output saying which cell ran past which
    limit (:func:`timeout_message`), so a graded test cell it stopped fails and the feedback shows
    why. The output goes where the interrupt's own ``KeyboardInterrupt`` error begins (else at
    the end): where it stood when nbclient's private timeout handler was patched to add it.
    """

    def preprocess(self, nb: NotebookNode, resources: dict | None = None,
                   km: KernelManager | None = None) -> tuple[NotebookNode, dict]:
        PHASE_MARKS["kernel"] = time.monotonic()
        try:
            return super().preprocess(nb, resources, km)
        finally:   # the kernel is stopped (nbclient's setup_kernel), also after an error
            PHASE_MARKS["stopped"] = time.monotonic()

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:   # after the last cell, nbclient stops the kernel
            PHASE_MARKS["cells_done"] = time.monotonic()

    def on_notebook_start(self, notebook: NotebookNode) -> None:
        """nbclient's hook: the kernel is started and its client connected."""
        PHASE_MARKS["ready"] = time.monotonic()

    def on_cell_executed(self, **kwargs) -> None:
        """nbclient's hook after a code cell's reply: mark a cell that ran out of time, then let
        nbgrader add the reply's error when no output of the cell shows it."""
        cell, reply = kwargs["cell"], kwargs["execute_reply"]
        if self.interrupt_on_timeout and self.error_on_timeout and "header" not in reply \
                and reply["content"].get("ename") == self.error_on_timeout.get("ename"):
            number = kwargs["cell_index"] + 1
            TIMED_OUT_CELLS.append(number)
            timeout = self.timeout_func(cell) if self.timeout_func is not None else self.timeout
            message = timeout_message(number, timeout)
            interrupts = [i for i, output in enumerate(cell.outputs)
                          if output.output_type == "error" and output.get("ename") == "KeyboardInterrupt"]
            cell.outputs.insert(interrupts[-1] if interrupts else len(cell.outputs),
                                nbformat.v4.new_output("error", ename="CellTimeoutError", evalue=message,
                                                       traceback=[f"CellTimeoutError: {message}"]))
        super().on_cell_executed(**kwargs)
