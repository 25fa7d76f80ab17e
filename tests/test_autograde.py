"""Autograde the 01_mnist_cam battery (tests/submissions/cases_01.py) once, then check every row."""

import csv
import json

import pytest

from grader.autograde import autograde
from grader.course import gradebook_url
from submissions import build
from submissions.cases_01 import CASES

TIMEOUT_SECONDS = 150
MEMORY_LIMIT_GIB = 4


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    course_dir = tmp_path_factory.mktemp("course")
    for name, (make, *_ignored) in CASES.items():
        build.write(make(), submissions, name)
    (submissions / "untouched" / "notes.txt").write_text("scratch")
    exit_code = autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2,
                          memory_limit_gib=MEMORY_LIMIT_GIB)
    return exit_code, read_grades(course_dir), course_dir, submissions


def read_grades(course_dir):
    with open(course_dir / "grades.csv") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def test_grader_exits_zero_and_writes_one_row_per_submission(graded_class):
    exit_code, rows, _, _ = graded_class
    assert exit_code == 0
    assert sorted(rows) == sorted(CASES)
    assert all(row["notebook"] == "01_mnist_cam" and float(row["max_score"]) == 5 for row in rows.values())


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_submission_gets_its_expected_score_status_and_reason(graded_class, student):
    _, expected_score, expected_status, words = CASES[student]
    row = graded_class[1][student]
    assert float(row["score"]) == expected_score, row
    if expected_status:
        assert row["status"] == expected_status, row
    assert words in row["reason"], row


def test_per_test_columns_add_up_to_the_score(graded_class):
    rows = graded_class[1]
    columns = ["test_show_cam_shape", "test_show_cam_values", "test_show_cam_predicted_class"]
    for row in rows.values():
        assert sum(float(row[c]) for c in columns) == float(row["score"]), row
    assert [rows["true_label"][c] for c in columns] == ["1", "2", "0"]


def test_gradebook_and_grades_csv_agree(graded_class):
    from nbgrader.api import Gradebook

    _, rows, course_dir, _ = graded_class
    with Gradebook(gradebook_url(course_dir)) as gradebook:
        recorded = {s.student.id: s.score for s in gradebook.assignment_submissions("01_mnist_cam")}
    graded = {student: float(row["score"]) for student, row in rows.items() if row["status"] == "graded"}
    assert recorded == graded


def test_edited_and_deleted_test_cells_are_restored(graded_class):
    course_dir = graded_class[2]
    path = course_dir / "autograded" / "tampered_tests" / "01_mnist_cam" / "01_mnist_cam.ipynb"
    sources = ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]]
    assert sum("BEGIN HIDDEN TESTS" in source for source in sources) == 3


def test_output_is_capped(graded_class):
    course_dir = graded_class[2]
    path = course_dir / "autograded" / "output_flood" / "01_mnist_cam" / "01_mnist_cam.ipynb"
    assert path.stat().st_size < 2_000_000  # 20 MB were printed


def test_every_student_gets_feedback_without_hidden_test_code(graded_class):
    _, rows, course_dir, _ = graded_class
    for student in rows:
        page = course_dir / "feedback" / student / "01_mnist_cam" / "01_mnist_cam.html"
        assert page.is_file(), student
        assert "BEGIN HIDDEN TESTS" not in page.read_text() and "show_cam_reference" not in page.read_text()
    assert "could not be graded" in (course_dir / "feedback" / "hang" / "01_mnist_cam" / "01_mnist_cam.html").read_text()


def test_regrading_is_idempotent_and_reuses_saved_results(graded_class, capsys):
    _, rows, course_dir, submissions = graded_class
    before = (course_dir / "grades.csv").read_text()
    capsys.readouterr()
    assert autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2,
                     memory_limit_gib=MEMORY_LIMIT_GIB) == 0
    rerun = [line for line in capsys.readouterr().out.splitlines() if line.startswith("graded ")]
    assert rerun == []  # nothing was run again
    assert (course_dir / "grades.csv").read_text() == before
