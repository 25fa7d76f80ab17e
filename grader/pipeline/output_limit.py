"""A byte limit on what each cell of a graded notebook keeps of its output, applied as nbclient
receives it in the job's worker (:class:`OutputLimit`, a base of
:class:`grader.pipeline.preprocessors.GraderExecute`).

nbgrader's ``LimitOutput`` counts lines only, and only after the notebook has run: one printed
line of 300 MB became a 300 MB autograded notebook and feedback page. Here a cell keeps at most
:data:`CELL_OUTPUT_MAX_BYTES` of output and a notebook :data:`NOTEBOOK_OUTPUT_MAX_BYTES`, text
and images together; what goes past them is left out, and one stdout line says so with the
limit. Outputs that decide a grade are never all dropped: past the limit a cell still keeps its
first error and its first stderr text, cut short (nbgrader fails a test cell that has either),
so filling the limit cannot turn a failing test into a passing one.
"""

from __future__ import annotations

import json

import nbformat
from nbformat import NotebookNode

# 2 MB of output per cell, text and images (their base64 text) together: four times the largest
# output of any cell of the course's solutions (0.52 MB, a figure of 05), so no honest cell is
# cut. A cell's text is then also cut at 1,000 lines (LimitOutput in nbgrader_config.py).
CELL_OUTPUT_MAX_BYTES = 2_000_000
# 10 MB for the whole notebook: many full cells must not add up to hundreds of MB in the worker,
# the grader's own process (which rewrites the notebook for the feedback) and the page. The
# course's executed solutions hold 0.4-1.3 MB in all.
NOTEBOOK_OUTPUT_MAX_BYTES = 10_000_000
# Past the limit, a cell's first error (its value) and first stderr text keep this much.
FAILURE_KEPT_BYTES = 1_000
NOTICE = ("[output cut at {limit}: a cell keeps at most {limit} of output (text and images together); "
          "the rest of this cell's output was left out]\n")
NOTEBOOK_NOTICE = ("[output cut: a notebook keeps at most {limit} of output in all (text and images together); "
                   "the rest of this cell's output was left out]\n")


def _text_bytes(text):
    """UTF-8 bytes of ``text`` (at least its length in characters, which is enough past the limit)."""
    text = text if isinstance(text, str) else json.dumps(text, default=str)
    return len(text) if len(text) > CELL_OUTPUT_MAX_BYTES else len(text.encode("utf-8", "replace"))


def _data_bytes(data):
    """Bytes of a display's mimebundle: every representation, images as their base64 text."""
    return sum(_text_bytes(value) for value in (data or {}).values())


def output_bytes(output: dict) -> int:
    """Bytes of one output: a stream's text, an error's name, value and traceback, a display's data."""
    kind = output.get("output_type")
    if kind == "stream":
        return _text_bytes(output.get("text", ""))
    if kind == "error":
        parts = [output.get("ename", ""), output.get("evalue", ""), *output.get("traceback", [])]
        return sum(_text_bytes(str(part)) for part in parts)
    return _data_bytes(output.get("data"))


def cut_text(text: str, limit: int) -> str:
    """The start of ``text``, at most ``limit`` bytes of UTF-8 (a character cut in two is dropped)."""
    return text[:max(0, limit)].encode("utf-8", "replace")[:max(0, limit)].decode("utf-8", "ignore")


def fails_a_test(output: dict) -> bool:
    """Whether nbgrader fails a test cell for ``output``: an error, or text written to stderr."""
    return output.get("output_type") == "error" or (output.get("output_type") == "stream"
                                                    and output.get("name") == "stderr")


def _cut_output(output, room):
    """What of ``output`` fits in ``room`` bytes: a stream's or an error's text cut short (an error
    keeps its name and a one-line traceback), None for a display that does not fit whole."""
    if output.output_type == "stream":
        output.text = cut_text(output.text, room)
        return output if output.text else None
    if output.output_type == "error":
        output.ename = cut_text(str(output.ename), FAILURE_KEPT_BYTES)
        output.evalue = cut_text(str(output.evalue), room)
        output.traceback = [f"{output.ename}: {output.evalue}"]
        return output
    return None


class NotebookBudget:
    """What all cells of one notebook have used of :data:`NOTEBOOK_OUTPUT_MAX_BYTES`."""

    def __init__(self, limit: int = NOTEBOOK_OUTPUT_MAX_BYTES) -> None:
        self.limit, self.used = limit, 0


class CellBudget:
    """What one cell's outputs have used of :data:`CELL_OUTPUT_MAX_BYTES`, and of its notebook's
    budget (``notebook``, shared by its cells; a cell of its own when None)."""

    def __init__(self, notebook: NotebookBudget | None = None, limit: int = CELL_OUTPUT_MAX_BYTES) -> None:
        self.notebook = notebook or NotebookBudget()
        self.limit, self.used, self.cut, self.failure_kept = limit, 0, False, False

    def room(self) -> int:
        return min(self.limit - self.used, self.notebook.limit - self.notebook.used)

    def spend(self, size: int) -> None:
        self.used += size
        self.notebook.used += size

    def admit(self, output: NotebookNode) -> list[NotebookNode]:
        """The outputs the cell keeps for ``output``: itself when it fits, else what of it fits
        (an error or stderr text: at least its start, once) and, the first time, the notice."""
        size, fails = output_bytes(output), fails_a_test(output)
        if not self.cut and size <= self.room():
            self.spend(size)
            self.failure_kept |= fails
            return [output]
        room = self.room()
        if fails and not self.failure_kept:
            room = max(room, FAILURE_KEPT_BYTES)
        kept = _cut_output(output, room) if room > 0 else None
        self.failure_kept |= bool(kept) and fails
        self.spend(output_bytes(kept) if kept else 0)
        notice = [] if self.cut else [self._notice()]
        self.cut = True
        return ([kept] if kept else []) + notice

    def _notice(self):
        """The stdout line that says which limit cut this cell's output."""
        whole_notebook = self.notebook.limit - self.notebook.used < self.limit - self.used
        text = NOTEBOOK_NOTICE if whole_notebook else NOTICE
        limit = self.notebook.limit if whole_notebook else self.limit
        return nbformat.v4.new_output("stream", name="stdout", text=text.format(limit=f"{limit / 1e6:g} MB"))

    def has_room(self, grown: int) -> bool:
        """Whether ``grown`` more bytes (a display updated in place) fit."""
        return not self.cut and grown <= self.room()


def _budgets(client):
    """The client's budget of each cell (by index) of the notebook it runs now, and the notebook's."""
    if client.__dict__.get("_grader_budgets_of") is not client.nb:
        client.__dict__.update(_grader_budgets_of=client.nb, _grader_cell_budgets={},
                               _grader_notebook_budget=NotebookBudget())
    return client.__dict__["_grader_cell_budgets"], client.__dict__["_grader_notebook_budget"]


def _cell_budget(client, cell_index, fresh=False):
    """The budget of cell ``cell_index``; ``fresh``: a new one (its outputs were cleared, so what
    they used is given back to the notebook)."""
    cells, notebook = _budgets(client)
    if fresh and cell_index in cells:
        notebook.used -= cells.pop(cell_index).used
    return cells.setdefault(cell_index, CellBudget(notebook))


def _limited_output(client, output, outs, msg, display_id, cell_index):
    """nbclient's ``output`` (``output``, bound to ``client``) within the budgets of the cell and
    its notebook. Applied once: a limited ``output`` that calls another gives it the message as is."""
    if client.__dict__.get("_grader_limiting"):
        return output(outs, msg, display_id, cell_index)
    client.__dict__["_grader_limiting"] = True
    try:
        out = output(outs, msg, display_id, cell_index)
    finally:
        client.__dict__["_grader_limiting"] = False
    if out is None or not outs or outs[-1] is not out:
        return out   # an Output widget took it, or nbclient kept nothing
    outs.pop()   # the cell's first output, or the first since clear_output: a fresh budget
    admitted = _cell_budget(client, cell_index, fresh=not outs).admit(out)
    outs.extend(admitted)
    return out if any(kept is out for kept in admitted) else None


def _limited_update(client, update_display, display_id, msg):
    """nbclient's update of a display in place (``update_display``, bound to ``client``), left
    out when it does not fit the budget of a cell it changes or the notebook's. Applied once."""
    if client.__dict__.get("_grader_limiting"):
        return update_display(display_id, msg)
    size = _data_bytes(msg.get("content", {}).get("data"))
    growth = {}
    for cell_index, indices in client._display_id_map.get(display_id, {}).items():
        outputs = client.nb["cells"][cell_index]["outputs"]
        growth[cell_index] = sum(size - output_bytes(outputs[i]) for i in indices if i < len(outputs))
    budgets = {index: _cell_budget(client, index) for index in growth}
    notebook = _budgets(client)[1]
    if not all(budgets[index].has_room(grown) for index, grown in growth.items()) \
            or sum(growth.values()) > notebook.limit - notebook.used:
        client.log.warning("a display update past the output limit of its cell or notebook was left out")
        return None
    for index, grown in growth.items():
        budgets[index].spend(grown)
    client.__dict__["_grader_limiting"] = True
    try:
        return update_display(display_id, msg)
    finally:
        client.__dict__["_grader_limiting"] = False


class OutputLimit:
    """Mixin for a subclass of nbclient's ``NotebookClient`` (:class:`grader.pipeline.preprocessors.GraderExecute`):
    each cell keeps at most :data:`CELL_OUTPUT_MAX_BYTES` and the notebook :data:`NOTEBOOK_OUTPUT_MAX_BYTES`.

    It overrides ``output`` and ``_update_display_id``: nbclient (0.11) has no public hook that
    sees an output before it is kept, or a display update (``update_display``, a repeated
    ``display_id``) before it changes the outputs it names, so the private method is the one
    place a display updated in place can be held to its cell's budget.
    """

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        return _limited_output(self, super().output, outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        return _limited_update(self, super()._update_display_id, display_id, msg)


def limit_outputs(client_class: type) -> None:
    """Wrap ``client_class.output`` (nbclient's ``NotebookClient``, or a subclass in a test) so
    each cell keeps at most :data:`CELL_OUTPUT_MAX_BYTES`, and ``_update_display_id`` so a
    display updated in place (``update_display``, a repeated ``display_id``) stays within its
    cell's budget; an update that does not fit is left out. The grader itself uses
    :class:`OutputLimit` (no patching); a client limited both ways counts each output once."""
    output, update_display = client_class.output, client_class._update_display_id

    def limited_output(self, outs, msg, display_id, cell_index):
        return _limited_output(self, output.__get__(self), outs, msg, display_id, cell_index)

    def limited_update(self, display_id, msg):
        return _limited_update(self, update_display.__get__(self), display_id, msg)

    client_class.output = limited_output
    client_class._update_display_id = limited_update
