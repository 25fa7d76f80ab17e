"""Build submissions from the course's student (or solution) notebooks; the bodies of 01's show_cam."""

import html.parser
import json
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INDENTED_STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"

SHOW_CAM_BODIES = {
    # Correct, written differently from the reference.
    "correct_einsum": """
prediction = results[image_index].argmax()
upsampled = scipy.ndimage.zoom(features[image_index].astype(np.float64), (28 / 3, 28 / 3, 1), order=2)
cam_output = np.einsum("hwk,k->hw", upsampled, gap_weights[:, prediction])
""",
    "correct_channel_loop": """
prediction = int(np.argmax(results[image_index]))
cam_output = np.zeros((28, 28), dtype=np.float32)
for k in range(features.shape[-1]):
    cam_output += gap_weights[k, prediction] * scipy.ndimage.zoom(features[image_index, :, :, k], 28 / 3, order=2)
""",
    # Subtly wrong.
    "true_label": """
prediction = int(y_test[image_index])
upsampled = scipy.ndimage.zoom(features[image_index], (28 / 3, 28 / 3, 1), order=2)
cam_output = upsampled @ gap_weights[:, prediction]
""",
    "no_upsampling": """
prediction = int(np.argmax(results[image_index]))
cam_output = features[image_index] @ gap_weights[:, prediction]
""",
    "order_1": """
prediction = int(np.argmax(results[image_index]))
upsampled = scipy.ndimage.zoom(features[image_index], (28 / 3, 28 / 3, 1), order=1)
cam_output = upsampled @ gap_weights[:, prediction]
""",
    "normalized": """
prediction = int(np.argmax(results[image_index]))
upsampled = scipy.ndimage.zoom(features[image_index], (28 / 3, 28 / 3, 1), order=2)
cam_output = upsampled @ gap_weights[:, prediction]
cam_output = (cam_output - cam_output.min()) / (cam_output.max() - cam_output.min() + 1e-9)
""",
}


def load_notebook(folder, name):
    """A notebook of the course as a dict: ``folder`` is "notebooks" (student) or "solutions"."""
    return json.loads((REPO_ROOT / folder / f"{name}.ipynb").read_text())


def load_student_notebook(name="01_mnist_cam"):
    return load_notebook("notebooks", name)


def solution_notebook(name="01_mnist_cam"):
    return load_notebook("solutions", name)


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def with_function_body(notebook, solution_id, body):
    """``notebook`` with ``body`` in place of the stub of the solution cell ``solution_id``
    (indented into its function)."""
    indented = "\n".join("    " + line if line else line for line in body.strip("\n").splitlines())
    cells = [cell for cell in notebook["cells"] if grade_id(cell) == solution_id]
    assert len(cells) == 1, f"expected one {solution_id} cell"
    source = "".join(cells[0]["source"])
    assert INDENTED_STUB in source, f"the student notebook's {solution_id} stub changed"
    cells[0]["source"] = source.replace(INDENTED_STUB, indented)
    return notebook


def with_show_cam(body, notebook=None):
    """The student notebook of 01 with ``body`` in place of show_cam's stub."""
    return with_function_body(notebook or load_student_notebook(), "show_cam", body)


def with_answers(name, solution_ids, bodies):
    """The student notebook ``name`` with each of ``bodies`` in place of the stub of the solution
    cell at the same place in ``solution_ids``."""
    notebook = load_student_notebook(name)
    for solution_id, body in zip(solution_ids, bodies, strict=True):
        notebook = with_function_body(notebook, solution_id, body)
    return notebook


def with_tests_tampered(notebook, rewritten, removed, claim):
    """``notebook`` whose author rewrote its graded test cell number ``rewritten`` (counting the test
    cells only) into the docstring ``claim`` and ``assert True``, and deleted test cell ``removed``."""
    tests = [cell for cell in notebook["cells"] if (grade_id(cell) or "").startswith("test_")]
    tests[rewritten]["source"] = f"'''{claim}'''\nassert True\n"
    notebook["cells"].remove(tests[removed])
    return notebook


def tampered(body):
    """A wrong answer whose author edited one graded test cell to pass and deleted another."""
    return with_tests_tampered(with_show_cam(body), 1, 2, "show_cam returns the raw CAM.")


def with_first_code_cell(code):
    """The reference solution of 01 with ``code`` run before everything else."""
    notebook = solution_notebook()
    position = next(i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code")
    notebook["cells"].insert(position, {"cell_type": "code", "execution_count": None, "id": "inserted",
                                        "metadata": {}, "outputs": [], "source": code})
    return notebook


def write(notebook, folder, student_id, name="01_mnist_cam.ipynb"):
    """Write ``notebook`` (a dict, or raw text) as ``folder/student_id/name``."""
    path = Path(folder) / student_id / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return path


def with_code_cell_before_tests(notebook, code):
    """``notebook`` with ``code`` in a new cell just before the first graded test cell."""
    position = next(i for i, cell in enumerate(notebook["cells"]) if (grade_id(cell) or "").startswith("test_"))
    notebook["cells"].insert(position, {"cell_type": "code", "execution_count": None, "id": "student-extra",
                                        "metadata": {}, "outputs": [], "source": code})
    return notebook


def with_code_cell_at_end(notebook, code):
    """``notebook`` with ``code`` in a new last cell (after every graded test)."""
    notebook["cells"].append({"cell_type": "code", "execution_count": None, "id": "student-last",
                              "metadata": {}, "outputs": [], "source": code})
    return notebook


def without_cell(notebook, wanted_grade_id):
    notebook["cells"] = [cell for cell in notebook["cells"] if grade_id(cell) != wanted_grade_id]
    return notebook


# ---------------------------------------------------------------- code that probes the sandbox

STEAL_THE_REFERENCE = '''
# Hostile: read the grader's reference and the solutions from disk (directly and through /proc).
import os, pathlib, helpers
repo = pathlib.Path(helpers.__file__).resolve().parents[1]
stolen = {}
for path in [repo / "grader" / "reference.py", repo / "solutions" / "NOTEBOOK.ipynb",
             pathlib.Path(f"/proc/{os.getppid()}/root{repo}/grader/reference.py"),
             pathlib.Path(f"/proc/1/root{repo}/grader/reference.py"),
             pathlib.Path(f"/proc/{os.getppid()}/cwd/../../../../source/NOTEBOOK/NOTEBOOK.ipynb")]:
    try:
        stolen[str(path)] = path.read_text()
    except Exception:
        pass
reference_namespace = {}
for text in stolen.values():
    try:
        exec(text, reference_namespace)
    except Exception:
        pass
'''


def steal_the_reference(notebook_name):
    return STEAL_THE_REFERENCE.replace("NOTEBOOK", notebook_name)


def write_everywhere(canaries):
    """Hostile code that overwrites each of ``canaries`` and drops files into the repository and venv."""
    return f'''
# Hostile: write to the grader's files, the course, the submissions and the Python environment.
import pathlib, sys, helpers
repo = pathlib.Path(helpers.__file__).resolve().parents[1]
targets = [pathlib.Path(p) for p in {[str(c) for c in canaries]!r}]
targets += [repo / "helpers" / "zz_student_was_here.txt", pathlib.Path(sys.prefix) / "zz_student_was_here.txt"]
for target in targets:
    try:
        target.write_text("overwritten by a student")
    except OSError:
        pass
# ... and through relative paths: the gradebook, the results, the other students' folders.
import glob, os
for path in glob.glob("../../../*.db") + glob.glob("../../../../*.db") + glob.glob("../../*/*/*.ipynb"):
    try:
        open(path, "wb").write(b"junk")
    except OSError:
        pass
for folder in ("../../../results", "../../../../results", "../../../feedback"):
    try:
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "reference__NOTEBOOK.json"), "w").write("{{}}")
    except OSError:
        pass
'''


# The rows of grades.csv (all but "seconds") that 01_mnist_cam submissions of each kind get,
# as the 01 battery (tests/test_autograde.py) establishes them one by one.
_TESTS_01 = ("test_show_cam_predicted_class", "test_show_cam_shape", "test_show_cam_values")
_ROWS_01 = {
    "reference": ("5.0", "graded", "all tests passed", (2, 1, 2)),
    "untouched": ("0.0", "graded", "failed: test_show_cam_predicted_class, test_show_cam_shape, test_show_cam_values",
                  (0, 0, 0)),
    "true_label": ("3.0", "graded", "failed: test_show_cam_predicted_class", (0, 1, 2)),
    "not a notebook": ("0.0", "invalid", "not a valid notebook (Notebook does not appear to be JSON: 'not a notebook')",
                       (0, 0, 0)),
}


def notebook_01(kind):
    """A 01_mnist_cam submission of ``kind`` (a key of the rows below): a notebook, or text that is not one."""
    return {"reference": solution_notebook, "untouched": load_student_notebook,
            "true_label": lambda: with_show_cam(SHOW_CAM_BODIES["true_label"]),
            "not a notebook": lambda: "not a notebook"}[kind]()


def expected_row_01(student_id, kind, sandboxed=None):
    """The grades.csv row, without "seconds", of ``student_id``'s 01_mnist_cam of ``kind`` (all values strings).
    ``sandboxed`` ("yes" or "no"): by default what ``--isolate auto`` gives on this machine."""
    from grader.sandbox import namespaces as sandbox

    score, status, reason, points = _ROWS_01[kind]
    if sandboxed is None:
        sandboxed = "yes" if sandbox.available()[0] else "no"
    return {"student_id": student_id, "notebook": "01_mnist_cam", "score": score, "max_score": "5.0",
            "status": status, "reason": reason, "late": "", "override": "", "sandboxed": sandboxed,
            **{f"01_mnist_cam:{test}": str(p) for test, p in zip(_TESTS_01, points)}}


# ---------------------------------------------------------------- reading feedback pages

class ActiveParts(html.parser.HTMLParser):
    """What of a page could act or pose as the grader: scripts (their src or text), on* attributes,
    javascript: URLs, frames and embeds, and the text of headings."""

    HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")

    def __init__(self, text):
        super().__init__()
        self.scripts, self.handlers, self.urls, self.frames, self.headings = [], [], [], [], []
        self._in_script = self._in_heading = False
        self.feed(text)

    def handle_starttag(self, tag, attributes):
        if tag == "script":
            self._in_script = True
            self.scripts.append(dict(attributes).get("src") or "")
        elif tag in self.HEADINGS:
            self._in_heading = True
            self.headings.append("")
        elif tag in ("iframe", "frame", "object", "embed"):
            self.frames.append(tag)
        self.handlers += [f"{name}={value}" for name, value in attributes if name.startswith("on")]
        self.urls += [value for name, value in attributes
                      if name in ("href", "src", "action", "formaction", "xlink:href") and value
                      and re.sub(r"\s", "", value).lower().startswith(("javascript:", "vbscript:"))]

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        elif tag in self.HEADINGS:
            self._in_heading = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        elif self._in_heading:
            self.headings[-1] += data
