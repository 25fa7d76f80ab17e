"""Build 01_mnist_cam submissions from the student (or solution) notebook."""

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STUDENT_NOTEBOOK = REPO_ROOT / "notebooks" / "01_mnist_cam.ipynb"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

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


def load_student_notebook():
    return json.loads(STUDENT_NOTEBOOK.read_text())


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def with_show_cam(body, notebook=None):
    """The student notebook with ``body`` in place of show_cam's stub (indented into the function)."""
    notebook = notebook or load_student_notebook()
    indented = "\n".join("    " + line if line else line for line in body.strip("\n").splitlines())
    for cell in notebook["cells"]:
        if grade_id(cell) == "show_cam":
            source = "".join(cell["source"])
            assert STUB in source.replace("    ", ""), "the student notebook's stub changed"
            cell["source"] = source.replace("    # YOUR CODE HERE\n    raise NotImplementedError()", indented)
    return notebook


def tampered(body):
    """A wrong answer whose author edited one graded test cell to pass and deleted another."""
    notebook = with_show_cam(body)
    tests = [cell for cell in notebook["cells"] if (grade_id(cell) or "").startswith("test_")]
    tests[1]["source"] = "'''show_cam returns the raw CAM.'''\nassert True\n"
    notebook["cells"].remove(tests[2])
    return notebook


def solution_notebook():
    return json.loads((REPO_ROOT / "solutions" / "01_mnist_cam.ipynb").read_text())


def with_first_code_cell(code):
    """The reference solution with ``code`` run before everything else."""
    notebook = solution_notebook()
    position = next(i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code")
    notebook["cells"].insert(position, {"cell_type": "code", "execution_count": None, "id": "inserted",
                                        "metadata": {}, "outputs": [], "source": code})
    return notebook


def write(notebook, folder, student_id, name="01_mnist_cam.ipynb"):
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


def without_cell(notebook, wanted_grade_id):
    notebook["cells"] = [cell for cell in notebook["cells"] if grade_id(cell) != wanted_grade_id]
    return notebook
