"""``make solutions``: re-execute solution notebooks in place (outputs are committed).

Outputs are stored as a reader sees them (:func:`as_shown`): a progress bar's carriage-return
updates collapse into the line it ends on. A notebook must run quietly: any stderr stream
(TensorFlow or absl log lines, a Keras warning) is kept in the stored notebook, printed
here with its cell, and makes the command exit 1 – fix its cause (``import helpers.quiet``
first in the Setup cell, or the code that warns) rather than hiding it.
Prints each notebook's measured run time, the figure its header should state.
Usage: ``python -m tools.execute_solutions [solutions/NN_name.ipynb ...]``
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader.course import QUIET_KERNEL, SOLUTIONS_DIR


def stderr_texts(outputs):
    """The texts of the ``stream`` outputs named ``stderr`` among a cell's outputs."""
    return [output.get("text", "") for output in outputs or ()
            if output.get("output_type") == "stream" and output.get("name") == "stderr"]


def stderr_outputs(notebook):
    """[(cell index, text)] of every stderr stream output in the notebook's code cells."""
    return [(index, text) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for text in stderr_texts(cell.get("outputs"))]


def collapse_carriage_returns(text):
    """``text`` as a terminal or Jupyter shows it: each line keeps what follows its last ``\r``."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def as_shown(notebook):
    """Merge each cell's consecutive stream outputs of one name (as Jupyter displays them) and
    collapse their carriage returns: a progress bar stores its last state, not every update."""
    for cell in notebook.cells:
        merged = []
        for output in cell.get("outputs", []):
            if (output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == output.get("name")):
                merged[-1]["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream":
                output["text"] = collapse_carriage_returns(output["text"])
        if "outputs" in cell:
            cell["outputs"] = merged
    return notebook


# Set by the Makefile, the tests or a maintainer's shell, never by a student's Jupyter: the
# kernel must start as it does for a student (inline figures, TensorFlow's default logging).
VARIABLES_A_STUDENT_DOES_NOT_HAVE = ("MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL")


def execute_in_place(path, timeout_seconds=900):
    """Execute ``path`` in place; return (seconds, [(cell index, stderr text)])."""
    for name in VARIABLES_A_STUDENT_DOES_NOT_HAVE:
        os.environ.pop(name, None)
    notebook = nbformat.read(str(path), as_version=4)
    started = time.monotonic()
    NotebookClient(notebook, timeout=timeout_seconds, kernel_name="python3", extra_arguments=QUIET_KERNEL,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    seconds = time.monotonic() - started
    nbformat.write(as_shown(notebook), str(path))
    return seconds, stderr_outputs(notebook)


def main(argv=None):
    paths = [Path(p) for p in (argv or sys.argv[1:])] or sorted(SOLUTIONS_DIR.glob("*.ipynb"))
    noisy = 0
    for path in paths:
        seconds, stderr = execute_in_place(path)
        print(f"executed {path.name} in {seconds:.0f} s")
        for index, text in stderr:
            noisy += 1
            print(f"  STDERR in cell {index} of {path.name} (a student sees this as a red block):", file=sys.stderr)
            print("    " + text.rstrip().replace("\n", "\n    "), file=sys.stderr)
    if noisy:
        print(f"{noisy} stderr output(s) stored in the notebooks above: the notebooks must run quietly "
              "(tests/conftest.py fails such a cell under nbval).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
