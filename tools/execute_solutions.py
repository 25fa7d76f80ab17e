"""``make solutions``: re-execute solution notebooks in place (outputs are committed).

TensorFlow's start-up log lines (stderr) are dropped from the stored outputs so the
reference solutions read cleanly; everything else is kept as executed.
Usage: ``python -m tools.execute_solutions [solutions/NN_name.ipynb ...]``
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from grader.course import SOLUTIONS_DIR


def drop_stderr(notebook):
    """Remove stderr stream outputs from every code cell; return how many were removed."""
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        removed += len(cell.outputs) - len(kept)
        cell.outputs = kept
    return removed


def execute_in_place(path, timeout_seconds=900):
    notebook = nbformat.read(str(path), as_version=4)
    started = time.monotonic()
    NotebookClient(notebook, timeout=timeout_seconds, kernel_name="python3",
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    seconds = time.monotonic() - started
    drop_stderr(notebook)
    nbformat.write(notebook, str(path))
    print(f"executed {Path(path).name} in {seconds:.0f} s")


def main(argv=None):
    paths = [Path(p) for p in (argv or sys.argv[1:])] or sorted(SOLUTIONS_DIR.glob("*.ipynb"))
    for path in paths:
        execute_in_place(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
