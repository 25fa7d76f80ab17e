"""Lesson 03 (Grad-CAM): autograde a class of get_CAM submissions once, then check every row;
and what the release must (not) put into the student notebooks of 02 and 03."""

import csv
import json

import pytest
from submissions import build
from submissions import cases_03 as variants

from grader.course import NOTEBOOKS_DIR, SOLUTIONS_DIR
from grader.pipeline.autograde import autograde

NOTEBOOK = variants.NOTEBOOK_NAME
FULL_MARKS = 7
# Each submission executes the whole notebook (about 45 s alone; two run side by side).
TIMEOUT_SECONDS = 400
TEST_IDS = ["test_get_CAM_shape_and_range", "test_get_CAM_predicted_class", "test_get_CAM_other_class",
            "test_get_CAM_nothing_positive"]
TESTS = [f"{NOTEBOOK}:{test}" for test in TEST_IDS]   # grades.csv's columns
# The graded test that each wrong answer must fail: the one aimed at its mistake.
MUST_FAIL = {
    "no_relu": "test_get_CAM_shape_and_range",          # negative values
    "max_of_gradients": "test_get_CAM_predicted_class",  # wrong weights α
    "ignores_label": "test_get_CAM_other_class",         # always the top prediction
    "no_normalization": "test_get_CAM_shape_and_range",  # maximum is not 1
    "input_gradients": "test_get_CAM_shape_and_range",   # (224, 224), not the layer's grid
    "fixed_layer": "test_get_CAM_predicted_class",       # layer_name ignored
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions_03")
    course_dir = tmp_path_factory.mktemp("course_03")
    build.write(build.solution_notebook(NOTEBOOK), submissions, "reference", f"{NOTEBOOK}.ipynb")
    build.write(build.load_student_notebook(NOTEBOOK), submissions, "untouched", f"{NOTEBOOK}.ipynb")
    for name, body in {**variants.CORRECT_BODIES, **variants.WRONG_BODIES}.items():
        build.write(variants.with_get_cam(body), submissions, name, f"{NOTEBOOK}.ipynb")
    for name, (make, *_) in variants.HOSTILE.items():
        build.write(make(), submissions, name, f"{NOTEBOOK}.ipynb")
    canaries = [course_dir / "canary.txt", submissions / "reference" / "canary.txt"]
    for canary in canaries:
        canary.write_text("canary")
    build.write(variants.writes_everywhere(canaries), submissions, "writes_everywhere", f"{NOTEBOOK}.ipynb")
    exit_code = autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2)
    with open(course_dir / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return exit_code, rows, canaries


def score(rows, student):
    return float(rows[student]["score"])


def test_every_submission_is_graded_out_of_seven(graded_class):
    exit_code, rows, _ = graded_class
    assert exit_code == 0
    assert set(rows) == {"reference", "untouched", "writes_everywhere", *variants.CORRECT_BODIES,
                         *variants.WRONG_BODIES, *variants.HOSTILE}
    for student, row in rows.items():
        assert row["notebook"] == NOTEBOOK and float(row["max_score"]) == FULL_MARKS, student
        assert row["status"] == "graded", f"{student}: {row['status']} ({row['reason']})"


def test_reference_gets_full_marks_and_untouched_gets_zero(graded_class):
    _, rows, _ = graded_class
    assert score(rows, "reference") == FULL_MARKS, rows["reference"]["reason"]
    assert score(rows, "untouched") == 0
    assert all(float(rows["untouched"][test]) == 0 for test in TESTS)


@pytest.mark.parametrize("student", sorted(variants.CORRECT_BODIES))
def test_correct_answers_written_differently_get_full_marks(graded_class, student):
    _, rows, _ = graded_class
    assert score(rows, student) == FULL_MARKS, rows[student]["reason"]


@pytest.mark.parametrize("student", sorted(variants.WRONG_BODIES))
def test_wrong_answers_lose_points_on_the_test_aimed_at_their_mistake(graded_class, student):
    _, rows, _ = graded_class
    assert score(rows, student) < FULL_MARKS, rows[student]["reason"]
    assert float(rows[student][f"{NOTEBOOK}:{MUST_FAIL[student]}"]) == 0, rows[student]["reason"]


def test_an_answer_with_one_mistake_loses_exactly_that_test(graded_class):
    """No normalization: right maps up to scale on every random fixture, only the range test fails."""
    _, rows, _ = graded_class
    assert [float(rows["no_normalization"][test]) for test in TESTS] == [0, 2, 2, 1]


@pytest.mark.parametrize("student", sorted(variants.HOSTILE))
def test_hostile_tricks_earn_nothing_over_the_honest_answer(graded_class, student):
    """Each trick gets exactly the per-test points of the honest submission it dresses up."""
    _, rows, _ = graded_class
    _, honest, words = variants.HOSTILE[student]
    assert [rows[student][test] for test in TESTS] == [rows[honest][test] for test in TESTS], rows[student]["reason"]
    assert score(rows, student) < FULL_MARKS
    assert words in rows[student]["reason"]


def test_a_kernel_cannot_write_outside_its_folder(graded_class):
    _, rows, canaries = graded_class
    assert score(rows, "writes_everywhere") == FULL_MARKS, rows["writes_everywhere"]["reason"]
    assert [canary.read_text() for canary in canaries] == ["canary"] * len(canaries)


def test_per_test_columns_add_up_to_the_score(graded_class):
    _, rows, _ = graded_class
    for student, row in rows.items():
        assert sum(float(row[test]) for test in TESTS) == pytest.approx(score(rows, student)), student


# ---------------------------------------------------------------- release of 02 and 03

def _notebook(path):
    return json.loads(path.read_text())


def _code(notebook):
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


@pytest.mark.parametrize("name", ["02_imagenet_saliency", NOTEBOOK])
def test_student_notebook_has_no_outputs_solutions_or_hidden_tests(name):
    notebook = _notebook(NOTEBOOKS_DIR / f"{name}.ipynb")
    code = "\n".join(_code(notebook))
    assert "BEGIN SOLUTION" not in code and "BEGIN HIDDEN TESTS" not in code
    assert "from grader" not in code and "grad_cam(" not in code
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_student_notebook_03_has_the_get_cam_stub_only():
    code = "\n".join(_code(_notebook(NOTEBOOKS_DIR / f"{NOTEBOOK}.ipynb")))
    assert code.count("raise NotImplementedError()") == 1
    assert "def get_CAM(processed_image, predicted_label, layer_name=LAYER_NAME):" in code
    for answer in ("tape.gradient(class_score", "tf.reduce_mean(grads_values", "heatmap / peak"):
        assert answer not in code


@pytest.mark.parametrize("name", ["02_imagenet_saliency", NOTEBOOK])
def test_solution_notebook_is_executed_without_errors_or_log_noise(name):
    notebook = _notebook(SOLUTIONS_DIR / f"{name}.ipynb")
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell["execution_count"] for cell in code_cells)
    outputs = [output for cell in code_cells for output in cell["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]
    assert any({"image/png", "image/jpeg"} & set(o.get("data", {})) for o in outputs), "the figures are missing"


def test_graded_cells_of_03_carry_points_docstrings_and_unique_names():
    notebook = _notebook(SOLUTIONS_DIR / f"{NOTEBOOK}.ipynb")
    tests = [cell for cell in notebook["cells"] if cell["metadata"].get("nbgrader", {}).get("grade")]
    assert [cell["metadata"]["nbgrader"]["grade_id"] for cell in tests] == TEST_IDS
    assert sum(cell["metadata"]["nbgrader"]["points"] for cell in tests) == FULL_MARKS
    assert all("".join(cell["source"]).startswith("'''") for cell in tests)
    assert all("### BEGIN HIDDEN TESTS" in "".join(cell["source"]) for cell in tests)
