"""Autograde a whole class of 01_mnist_cam submissions once, then check every row."""

import csv
import json
import shutil

import pytest

import submission_variants as variants
from grader.autograde import autograde
from grader.course import SOLUTIONS_DIR

TIMEOUT_SECONDS = 150


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    course_dir = tmp_path_factory.mktemp("course")
    shutil.copytree(SOLUTIONS_DIR, submissions / "reference", ignore=shutil.ignore_patterns("0[2-9]*"))
    variants.write(variants.load_student_notebook(), submissions, "untouched")
    for name, body in variants.SHOW_CAM_BODIES.items():
        variants.write(variants.with_show_cam(body), submissions, name)
    variants.write(variants.tampered(variants.SHOW_CAM_BODIES["true_label"]), submissions, "tampered")
    variants.write("this is not a notebook {", submissions, "not_json")
    variants.write(variants.with_first_code_cell("import os\nos._exit(3)"), submissions, "crash")
    variants.write(variants.with_first_code_cell("import time\ntime.sleep(10**6)"), submissions, "hang")
    hog = "import numpy as np\nhog = []\nwhile True:\n    hog.append(np.ones(10**8))"
    variants.write(variants.with_first_code_cell(hog), submissions, "memory_hog")
    (submissions / "untouched" / "notes.txt").write_text("scratch")
    exit_code = autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2,
                          memory_limit_gib=4)
    with open(course_dir / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return exit_code, rows, course_dir


def score(rows, student):
    return float(rows[student]["score"])


def test_grader_exits_zero_and_writes_one_row_per_submission(graded_class):
    exit_code, rows, _ = graded_class
    assert exit_code == 0
    assert len(rows) == 13
    assert all(rows[s]["notebook"] == "01_mnist_cam" and float(rows[s]["max_score"]) == 5 for s in rows)


def test_reference_gets_full_marks_and_untouched_gets_zero(graded_class):
    _, rows, _ = graded_class
    assert score(rows, "reference") == 5
    assert score(rows, "untouched") == 0 and rows["untouched"]["status"] == "graded"


@pytest.mark.parametrize("student", ["correct_einsum", "correct_channel_loop"])
def test_correct_answers_written_differently_get_full_marks(graded_class, student):
    assert score(graded_class[1], student) == 5


@pytest.mark.parametrize("student", ["true_label", "no_upsampling", "order_1", "normalized"])
def test_subtly_wrong_answers_lose_points(graded_class, student):
    assert score(graded_class[1], student) < 5


def test_true_label_fails_only_on_misclassified_digits(graded_class):
    _, rows, _ = graded_class
    assert score(rows, "true_label") == 3
    assert rows["true_label"]["reason"] == "failed: test_show_cam_predicted_class"


def test_edited_and_deleted_test_cells_are_restored(graded_class):
    _, rows, course_dir = graded_class
    assert score(rows, "tampered") == score(rows, "true_label") == 3
    autograded = json.loads((course_dir / "autograded" / "tampered" / "01_mnist_cam" / "01_mnist_cam.ipynb").read_text())
    sources = ["".join(c["source"]) for c in autograded["cells"]]
    assert sum("BEGIN HIDDEN TESTS" in s for s in sources) == 3


@pytest.mark.parametrize("student, status, words", [
    ("not_json", "invalid", "not a valid notebook"),
    ("crash", "error", "kernel died"),
    ("hang", "timeout", "limit"),
    ("memory_hog", "memory", "memory cap"),
])
def test_broken_submissions_score_zero_with_a_reason(graded_class, student, status, words):
    row = graded_class[1][student]
    assert float(row["score"]) == 0 and row["status"] == status and words in row["reason"]


def test_every_student_gets_html_feedback(graded_class):
    _, rows, course_dir = graded_class
    for student in rows:
        page = course_dir / "feedback" / student / "01_mnist_cam" / "01_mnist_cam.html"
        assert page.is_file(), student
    assert "could not be graded" in (course_dir / "feedback" / "hang" / "01_mnist_cam" / "01_mnist_cam.html").read_text()
