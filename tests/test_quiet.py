"""A quiet Run All: no notebook cell may write to stderr (a student sees a red block).

The check itself runs while nbval executes ``solutions/`` (``NbvalQuietPlugin`` in
``conftest.py``: no extra execution). These tests prove that it can fail, that
``helpers.quiet`` silences TensorFlow in a fresh kernel, and that the committed notebooks
hold no stderr output and import ``helpers.quiet`` before TensorFlow.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.execute_solutions import stderr_outputs

REPO = Path(__file__).resolve().parents[1]
CONFTEST = Path(__file__).resolve().parent / "conftest.py"
NOTEBOOKS = sorted((REPO / "solutions").glob("*.ipynb")) + sorted((REPO / "notebooks").glob("*.ipynb"))

LOAD_COURSE_CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("course_conftest", {str(CONFTEST)!r})
course_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course_conftest)
pytest_configure = course_conftest.pytest_configure
"""

CELLS = [
    'print("stdout is fine")',                                                          # Cell 0: passes
    'import sys\nsys.stderr.write("a Python warning\\n")',                              # Cell 1: fails
    # Cell 2: fails. A C++ line written to file descriptor 2 while the cell still works (as TensorFlow's
    # are): ipykernel forwards it as a stderr stream, which Jupyter and nbval show alike.
    'import os, time\nos.write(2, b"E0000 a C++ log line on file descriptor 2\\n")\ntime.sleep(1)',
    # Cell 3: passes. A fresh kernel (no TF_CPP_MIN_LOG_LEVEL): TensorFlow through helpers.quiet,
    # then a Keras prediction (tf.data), which is where "use_unbounded_threadpool" used to show.
    "import helpers.quiet\nimport keras\nimport numpy as np\n"
    "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
    "print(model.predict(np.zeros((1, 2)), verbose=0).shape)",
    # Cell 4: passes. What helpers.quiet offers for other noisy C++ calls.
    'import os\nfrom helpers.quiet import stderr_silenced\nwith stderr_silenced():\n    os.write(2, b"hidden\\n")',
]


def run_nbval_on_generated_notebook(folder):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    nbformat.write(notebook, str(folder / "noisy.ipynb"))
    (folder / "conftest.py").write_text(LOAD_COURSE_CONFTEST)
    (folder / "pytest.ini").write_text("[pytest]\n")
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         "-rA", "--rootdir", str(folder), "-c", str(folder / "pytest.ini"), str(folder / "noisy.ipynb")],
        cwd=folder, env=environment, capture_output=True, text=True, timeout=300,
    )
    return completed.stdout + completed.stderr


def test_a_cell_that_writes_to_stderr_fails_and_a_quiet_one_passes(tmp_path):
    report = run_nbval_on_generated_notebook(tmp_path)
    outcomes = {int(cell): outcome for outcome, cell in re.findall(
        r"^(PASSED|FAILED) noisy\.ipynb::Cell (\d+)", report, flags=re.MULTILINE)}
    assert outcomes == {0: "PASSED", 1: "FAILED", 2: "FAILED", 3: "PASSED", 4: "PASSED"}, report
    assert "the cell wrote to stderr" in report and "a Python warning" in report, report
    assert "E0000 a C++ log line" in report, report


def stderr_cells(path):
    return sorted({index for index, _ in stderr_outputs(nbformat.read(str(path), as_version=4))})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_committed_notebook_has_no_stderr_output(path):
    assert stderr_cells(path) == [], f"{path.name}: cells {stderr_cells(path)} hold stderr output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_setup_cell_imports_helpers_quiet_before_tensorflow(path):
    notebook = nbformat.read(str(path), as_version=4)
    setup = next(cell.source for cell in notebook.cells
                 if cell.cell_type == "code" and re.search(r"^import (keras|tensorflow)", cell.source, re.MULTILINE))
    first_import = re.search(r"^(?:import|from) \S+", setup, re.MULTILINE).group(0)
    assert first_import == "import helpers.quiet", f"{path.name}: the Setup cell starts with {first_import!r}"


# A path of the machine that executed a notebook: the repository, a home or the temporary folder.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:root|home|tmp|work|Users)/[\w.-]+")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_outputs_show_no_machine_path_and_no_progress_updates(path):
    """A reader sees the outputs as Jupyter shows them: no folder of the machine that ran the
    notebook, and a progress bar in its last state (no carriage-return updates stored)."""
    notebook = nbformat.read(str(path), as_version=4)
    texts = [output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
             for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert [m for text in texts for m in MACHINE_PATH.findall(text)] == []
    assert [text[:80] for text in texts if "\r" in text] == []


# A progress bar as tqdm or Keras print it: "37%|####  | 74/200 [00:03<00:05, 21.3it/s]", "10.27s/it]",
# or Keras' "12/12 ━━━━━━ 3s 250ms/step".
PROGRESS_BAR = re.compile(r"\d+%\|[^\n]*\||\d+(?:\.\d+)?(?:it/s|s/it)\]|\d+/\d+ [━─=>.]{3,}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_outputs_hold_no_progress_bar(path):
    """Issue 22: no stored output holds a progress bar, not even in its last state (a frozen
    "1/120 [00:10<20:22, 10.27s/it]" says how slow one run was, nothing about the lesson)."""
    notebook = nbformat.read(str(path), as_version=4)
    texts = [output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
             for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert [match.group(0) for text in texts for match in PROGRESS_BAR.finditer(text)] == []


@pytest.mark.parametrize("text", ["gradient ascent: 100%|########################| 200/200 [00:03<00:00, 52.43it/s]",
                                  "gradient ascent:   1%|      | 1/120 [00:10<20:22, 10.27s/it]",
                                  "12/12 ━━━━━━━━━━━━━━━━━━━━ 3s 250ms/step"])
def test_the_progress_bar_pattern_finds_tqdm_and_keras_bars(text):
    assert PROGRESS_BAR.search(text)
    assert not PROGRESS_BAR.search("test accuracy 0.957; 35 % of the pixels; 3/4 of the map")


def test_stored_outputs_are_merged_and_collapsed_as_jupyter_shows_them():
    from tools.execute_solutions import as_shown

    cell = nbformat.v4.new_code_cell("run()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="before\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="\rbar:   0%| 0/200"),
                    nbformat.v4.new_output("stream", name="stdout", text="\rbar:  86%| 173/200"),
                    nbformat.v4.new_output("stream", name="stdout", text="\rbar: 100%| 200/200\nafter\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="warned\n")]
    as_shown(nbformat.v4.new_notebook(cells=[cell]))
    assert [(output.name, output.text) for output in cell.outputs] == [
        ("stdout", "before\nbar: 100%| 200/200\nafter\n"), ("stderr", "warned\n")]
