"""``python -m grader validate NOTEBOOK``: a student's self-check before handing in.

nbgrader's Validator runs the notebook and reports the graded test cells that failed and the
read-only cells that were changed, but by default it says nothing about an error in an
ungraded cell, such as the assert of an exercise's self-check, and ``nbgrader validate`` exits
0 whatever it found. Here the same run also reports every ungraded code cell that raised an
error, and the exit code says whether anything failed.
"""

import os
from pathlib import Path

from grader.course import nbgrader_environment
from grader.errors import DONE, INCOMPLETE, InputError

TRACEBACK_CHARACTERS = 800
# nbgrader's defaults (30 s per cell, 4 s for a cell's output to arrive) are too short for a
# training cell on a busy laptop: a cell may run as long as it may when it is graded.
EXECUTE_CONFIG = {"timeout": 600, "iopub_timeout": 60}


def _recorder(executed):
    """A preprocessor class that appends the notebook it is given (already executed) to ``executed``."""
    from nbgrader.preprocessors import NbGraderPreprocessor

    class RecordExecutedNotebook(NbGraderPreprocessor):
        def preprocess(self, notebook, resources):
            executed.append(notebook)
            return notebook, resources

    return RecordExecutedNotebook


def _is_graded_or_locked(cell):
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return bool(nbgrader.get("grade") or nbgrader.get("locked"))


def _errors_in_ungraded_cells(notebook):
    """[(source, exception name, traceback text)] of the ungraded code cells whose execution raised an error."""
    from nbconvert.filters import strip_ansi

    found = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or _is_graded_or_locked(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append((cell.source, output.get("ename", ""), strip_ansi("\n".join(output.get("traceback", [])))))
                break
    return found


def _first_lines(source, count=3):
    lines = source.strip().splitlines()
    return "\n".join(lines[:count]) + ("\n..." if len(lines) > count else "")


def validate(notebook_path: str | Path) -> int:
    """Run the notebook with nbgrader's Validator and report what failed.

    Prints each problem and returns :data:`~grader.errors.INCOMPLETE` (1) when a graded test cell
    fails, another code cell (a self-check, or code that calls your function) raises an error, or a
    read-only cell was changed; :data:`~grader.errors.DONE` (0) when everything passes. Raises
    InputError when the file is missing.
    """
    path = Path(notebook_path)
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    os.environ["PATH"] = nbgrader_environment()["PATH"]
    from nbgrader.validator import Validator
    from traitlets.config import Config

    executed = []
    validator = Validator(config=Config({"Execute": EXECUTE_CONFIG}))
    validator.preprocessors = [*validator.preprocessors, _recorder(executed)]
    for attempt in (1, 2):
        try:
            results = validator.validate(str(path.resolve()))
            break
        except RuntimeError as error:   # raised before any cell ran, so running again changes nothing else
            if attempt == 2 or "Kernel died before replying to kernel_info" not in str(error):
                raise
            print("note: the Python kernel stopped while starting (a busy machine can do that); starting it again")
            executed.clear()
    problems = 0
    for kind, label in (("type_changed", "a cell changed type"), ("changed", "a read-only test cell was changed"),
                        ("failed", "a test failed")):
        for cell in results.get(kind, []):
            problems += 1
            print(f"{label}:\n{_first_lines(cell.get('source', ''), 8)}")
            if cell.get("raw_error"):
                print(cell["raw_error"][-TRACEBACK_CHARACTERS:])
            print()
    unfinished = 0
    for source, name, error in _errors_in_ungraded_cells(executed[0]) if executed else []:
        if name == "NotImplementedError":   # an exercise not done yet: graded ones fail their tests anyway
            unfinished += 1
            continue
        problems += 1
        print(f"a cell raised an error (a self-check, or code that uses your function):\n{_first_lines(source)}")
        print(error[-TRACEBACK_CHARACTERS:])
        print()
    if unfinished:
        print(f"note: {unfinished} cell(s) stopped at an exercise not done yet (NotImplementedError).\n")
    if problems:
        print(f"{path.name}: {problems} problem(s); fix them before you hand in.")
        return INCOMPLETE
    print(f"{path.name}: every visible test and self-check passes.")
    return DONE
