"""Lesson 02 (saliency map): autograde a class of saliency_map submissions once, then check every row."""

import csv
import json
import time

import pytest
from submissions import build
from submissions import cases_02 as variants

from grader.course import NOTEBOOKS_DIR, SOLUTIONS_DIR
from grader.pipeline.autograde import autograde

NOTEBOOK = variants.NOTEBOOK_NAME
FULL_MARKS = 6
TIMEOUT_SECONDS = 300
TESTS = [f"{NOTEBOOK}:{test}" for test in variants.TEST_IDS]   # grades.csv's columns


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions_02")
    course_dir = tmp_path_factory.mktemp("course_02")
    build.write(build.solution_notebook(NOTEBOOK), submissions, "reference", f"{NOTEBOOK}.ipynb")
    build.write(build.load_student_notebook(NOTEBOOK), submissions, "untouched", f"{NOTEBOOK}.ipynb")
    for name, body in {**variants.CORRECT_BODIES, **variants.WRONG_BODIES}.items():
        build.write(variants.with_saliency_map(body), submissions, name, f"{NOTEBOOK}.ipynb")
    for name, (make, *_) in variants.HOSTILE.items():
        build.write(make(), submissions, name, f"{NOTEBOOK}.ipynb")
    started = time.monotonic()
    exit_code = autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2)
    print(f"\n02: graded {len(list(submissions.iterdir()))} notebooks in {time.monotonic() - started:.0f} s (jobs=2)")
    with open(course_dir / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return exit_code, rows


def points(rows, student):
    return [float(rows[student][test]) for test in TESTS]


def test_every_submission_is_graded_out_of_six(graded_class):
    exit_code, rows = graded_class
    assert exit_code == 0
    assert set(rows) == {*variants.EXPECTED, *variants.HOSTILE}
    for student, row in rows.items():
        assert row["notebook"] == NOTEBOOK and float(row["max_score"]) == FULL_MARKS, student
        assert row["status"] == "graded", f"{student}: {row['status']} ({row['reason']})"


def test_reference_gets_full_marks_and_untouched_gets_zero(graded_class):
    _, rows = graded_class
    assert float(rows["reference"]["score"]) == FULL_MARKS, rows["reference"]["reason"]
    assert points(rows, "untouched") == [0, 0, 0, 0]


@pytest.mark.parametrize("student", sorted(variants.EXPECTED))
def test_each_submission_gets_its_expected_points_per_test(graded_class, student):
    """Each common mistake loses the tests aimed at it and keeps the others (e.g. no ε: only the flat map)."""
    _, rows = graded_class
    assert points(rows, student) == variants.EXPECTED[student], rows[student]["reason"]


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
        assert sum(float(row[test]) for test in TESTS) == pytest.approx(float(row["score"])), student


# ---------------------------------------------------------------- the release of 02

def _code(path):
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def test_student_notebook_02_has_the_saliency_map_stub_only():
    code = "\n".join(_code(NOTEBOOKS_DIR / f"{NOTEBOOK}.ipynb"))
    assert code.count("raise NotImplementedError()") == 1
    assert "def saliency_map(model, photos, class_index):" in code
    assert "BEGIN SOLUTION" not in code and "BEGIN HIDDEN TESTS" not in code and "from grader" not in code
    assert "tf.reduce_sum(tf.abs(gradients), axis=-1)                       # M = Σ_k |g_k|" not in code


def test_graded_cells_of_02_carry_points_docstrings_and_hidden_tests():
    notebook = json.loads((SOLUTIONS_DIR / f"{NOTEBOOK}.ipynb").read_text())
    tests = [cell for cell in notebook["cells"] if cell["metadata"].get("nbgrader", {}).get("grade")]
    assert [cell["metadata"]["nbgrader"]["grade_id"] for cell in tests] == variants.TEST_IDS
    assert [cell["metadata"]["nbgrader"]["points"] for cell in tests] == variants.EXPECTED["reference"]
    assert all("".join(cell["source"]).startswith("'''") for cell in tests)
    assert all("### BEGIN HIDDEN TESTS" in "".join(cell["source"]) for cell in tests)
