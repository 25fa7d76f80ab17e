"""Lesson 04 (max pooling with switches, unpooling): autograde a class of submissions once, then check
every row; and what the release must (not) put into the student notebook."""

import csv
import json

import pytest
from submissions import build
from submissions import cases_04 as variants

from grader.course import NOTEBOOKS_DIR, SOLUTIONS_DIR
from grader.pipeline.autograde import autograde

NOTEBOOK = variants.NOTEBOOK_NAME
FULL_MARKS = sum(variants.FULL_POINTS)
# The graded tests come before the data and the network: a submission takes a few seconds.
TIMEOUT_SECONDS = 200
TESTS = [f"{NOTEBOOK}:{test}" for test in variants.TEST_IDS]   # grades.csv's columns


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions_04")
    course_dir = tmp_path_factory.mktemp("course_04")
    build.write(build.solution_notebook(NOTEBOOK), submissions, "reference", f"{NOTEBOOK}.ipynb")
    build.write(build.load_student_notebook(NOTEBOOK), submissions, "untouched", f"{NOTEBOOK}.ipynb")
    for name, bodies in {**variants.CORRECT_BODIES, **variants.WRONG_BODIES}.items():
        build.write(variants.with_functions(bodies), submissions, name, f"{NOTEBOOK}.ipynb")
    for name, (make, *_) in variants.HOSTILE.items():
        build.write(make(), submissions, name, f"{NOTEBOOK}.ipynb")
    exit_code = autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2)
    with open(course_dir / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return exit_code, rows


def points(rows, student):
    return [float(rows[student][test]) for test in TESTS]


def test_every_submission_is_graded_out_of_six(graded_class):
    exit_code, rows = graded_class
    assert exit_code == 0
    assert set(rows) == {"reference", "untouched", *variants.CORRECT_BODIES, *variants.WRONG_BODIES,
                         *variants.HOSTILE}
    for student, row in rows.items():
        assert row["notebook"] == NOTEBOOK and float(row["max_score"]) == FULL_MARKS, student
        assert row["status"] == "graded", f"{student}: {row['status']} ({row['reason']})"


def test_reference_gets_full_marks_and_untouched_gets_zero(graded_class):
    _, rows = graded_class
    assert float(rows["reference"]["score"]) == FULL_MARKS, rows["reference"]["reason"]
    assert rows["reference"]["reason"] == "all tests passed"
    assert float(rows["untouched"]["score"]) == 0 and points(rows, "untouched") == [0] * len(TESTS)


@pytest.mark.parametrize("student", sorted(variants.EXPECTED_POINTS))
def test_each_submission_gets_its_expected_points_per_test(graded_class, student):
    """Right answers written differently get full marks; each mistake loses exactly the tests aimed at it."""
    _, rows = graded_class
    assert points(rows, student) == variants.EXPECTED_POINTS[student], rows[student]["reason"]


@pytest.mark.parametrize("student", sorted(variants.HOSTILE))
def test_hostile_tricks_earn_nothing_over_the_honest_answer(graded_class, student):
    """Each trick gets exactly the per-test points of the honest submission it dresses up."""
    _, rows = graded_class
    _, honest, words = variants.HOSTILE[student]
    assert points(rows, student) == points(rows, honest), rows[student]["reason"]
    assert float(rows[student]["score"]) < FULL_MARKS
    assert words in rows[student]["reason"]


def test_per_test_columns_add_up_to_the_score(graded_class):
    _, rows = graded_class
    for student, row in rows.items():
        assert sum(points(rows, student)) == pytest.approx(float(row["score"])), student


# ---------------------------------------------------------------- the notebooks

def _notebook(path):
    return json.loads(path.read_text())


def _code(notebook):
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")


def test_student_notebook_04_has_the_two_stubs_and_no_answer():
    notebook = _notebook(NOTEBOOKS_DIR / f"{NOTEBOOK}.ipynb")
    code = _code(notebook)
    assert code.count("raise NotImplementedError()") == 2
    assert "def max_pool_with_switches(inputs, pool_size=2):" in code
    assert "def unpool(pooled, switches, output_shape, pool_size=2):" in code
    assert "BEGIN SOLUTION" not in code and "BEGIN HIDDEN TESTS" not in code and "from grader" not in code
    for answer in ("argmax(axis=-1)", "switches // pool_size", "transpose(0, 1, 3, 5, 2, 4)"):
        assert answer not in code
    assert all(cell["outputs"] == [] for cell in notebook["cells"] if cell["cell_type"] == "code")


def test_graded_cells_of_04_carry_points_docstrings_and_hidden_tests():
    notebook = _notebook(SOLUTIONS_DIR / f"{NOTEBOOK}.ipynb")
    cells = notebook["cells"]
    tests = [cell for cell in cells if cell["metadata"].get("nbgrader", {}).get("grade")]
    assert [cell["metadata"]["nbgrader"]["grade_id"] for cell in tests] == variants.TEST_IDS
    assert [cell["metadata"]["nbgrader"]["points"] for cell in tests] == variants.FULL_POINTS
    assert all("".join(cell["source"]).startswith("'''") for cell in tests)
    assert all("### BEGIN HIDDEN TESTS" in "".join(cell["source"]) for cell in tests)
    # The graded tests come before the network is loaded, so grading a notebook stays quick.
    last_test = max(cells.index(cell) for cell in tests)
    assert "trained_gap_cnn(" in "".join(cells[last_test + 2]["source"])
