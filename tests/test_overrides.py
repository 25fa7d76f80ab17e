"""COURSE/overrides.csv: scores set by hand with a reason, applied by ``collect`` (and ``autograde``,
through the same ``finish``) on top of the saved automatic results, into grades.csv, the gradebook,
the printed summary and ``export``; bad lines are skipped with a reason naming the line.

The class here is three saved results of 01 (no notebook is graded: a second per collect, after
nbgrader generates the assignment once). tests/test_regrade.py grades a real class and regrades it.
"""

import csv
import json
import shutil

import pytest

from grader.__main__ import main
from grader.course import gradebook_url
from grader.export.grades import export
from grader.intake.submissions import Refusal, Submission
from grader.pipeline.collect import collect, write_class_list
from grader.pipeline.results import Grade, save_result

NOTEBOOK = "01_mnist_cam"
TESTS = {"test_show_cam_shape": 1.0, "test_show_cam_values": 2.0, "test_show_cam_predicted_class": 2.0}
AUTOMATIC = {"ann": {"test_show_cam_shape": 1.0, "test_show_cam_values": 2.0, "test_show_cam_predicted_class": 2.0},
             "bea": {"test_show_cam_shape": 1.0, "test_show_cam_values": 2.0, "test_show_cam_predicted_class": 0.0},
             "cy": {"test_show_cam_shape": 0.0, "test_show_cam_values": 0.0, "test_show_cam_predicted_class": 0.0}}


def _save(course_dir, student, tests):
    save_result(course_dir, Grade(student, NOTEBOOK, score=sum(tests.values()), max_score=5.0, tests=dict(tests),
                                  key=f"key-{student}", reason="automatic"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A course folder with the three results and their class list, collected once (the gradebook)."""
    course_dir = tmp_path_factory.mktemp("prepared") / "course"
    for student, tests in AUTOMATIC.items():
        _save(course_dir, student, tests)
    submissions = [Submission(student, NOTEBOOK, course_dir / "x.ipynb") for student in AUTOMATIC]
    write_class_list(course_dir, submissions, [Refusal("dan", "-", "dan.pdf: not a notebook; not graded")],
                     {(s.student_id, NOTEBOOK): f"key-{s.student_id}" for s in submissions})
    assert collect(course_dir) == 0
    return course_dir


@pytest.fixture
def course(prepared, tmp_path):
    """A copy of the prepared course for one test."""
    return shutil.copytree(prepared, tmp_path / "course")


def _rows(course_dir):
    with open(course_dir / "grades.csv", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _gradebook(course_dir):
    """``{student: (notebook score, {test: (auto, manual, extra)})}`` from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course_dir)) as gradebook:
        return {s.student.id: (s.score, {g.name: (g.auto_score, g.manual_score, g.extra_credit)
                                         for g in s.notebooks[0].grades})
                for s in gradebook.assignment_submissions(NOTEBOOK)}


OVERRIDES = (
    "student_id,notebook,test,points,reason\n"
    "bea,01_mnist_cam,test_show_cam_predicted_class,2,right class; the test's image was mislabelled\n"   # line 2
    "cy,01_mnist_cam,,4,\"graded by hand, mail of 3 March\"\n"                                          # line 3
    "\n"
    "ann,01_mnist_cam,test_nothing,1,typo\n"                                                            # line 5
    "ann,01_mnist_cam,01_mnist_cam:test_show_cam_shape,3,too many\n"                                    # line 6
    "ann,01_mnist_cam,,5,\n"                                                                            # line 7
    "ann,01_mnist_cam,,five,no number\n"                                                                # line 8
    "zed,01_mnist_cam,,5,not in the class\n"                                                            # line 9
    "bea,01_mnist_cam,test_show_cam_predicted_class,1,twice\n"                                          # line 10
)


def test_overrides_reach_grades_csv_the_gradebook_and_the_summary(course, capsys):
    (course / "overrides.csv").write_text(OVERRIDES, encoding="utf-8")
    capsys.readouterr()
    assert collect(course) == 0
    out = capsys.readouterr().out
    rows = _rows(course)
    assert {s: (rows[s]["score"], rows[s]["override"]) for s in AUTOMATIC} == {
        "ann": ("5.0", ""),
        "bea": ("5.0", "test_show_cam_predicted_class 0 -> 2: right class; the test's image was mislabelled"),
        "cy": ("4.0", "score 0 -> 4: graded by hand, mail of 3 March")}
    assert rows["bea"]["01_mnist_cam:test_show_cam_predicted_class"] == "2"
    assert [line for line in out.splitlines() if line.startswith("overrides.csv line")] == [
        "overrides.csv line 5: 01_mnist_cam has no test 'test_nothing' (its tests: test_show_cam_predicted_class, "
        "test_show_cam_shape, test_show_cam_values): skipped",
        "overrides.csv line 6: 3 points is more than test_show_cam_shape's 1: skipped",
        "overrides.csv line 7: no reason given (say why, for the student and for the next grader): skipped",
        "overrides.csv line 8: points 'five' is not a number: skipped",
        "overrides.csv line 9: no grade of zed in 01_mnist_cam in this class: not applied (kept in the file)",
        "overrides.csv line 10: sets bea/01_mnist_cam:test_show_cam_predicted_class again (line 2): skipped"]
    assert "override bea/01_mnist_cam:test_show_cam_predicted_class: 2 instead of 0" in out
    assert "override cy/01_mnist_cam: 4 instead of 0 (graded by hand, mail of 3 March)" in out
    recorded = _gradebook(course)
    assert {student: score for student, (score, _) in recorded.items()} == {"ann": 5.0, "bea": 5.0, "cy": 4.0}
    assert recorded["bea"][1]["test_show_cam_predicted_class"] == (0.0, 2.0, None)   # a manual score, as formgrader
    assert sum(extra or 0 for _, _, extra in recorded["cy"][1].values()) == 4.0
    assert json.loads((course / "results" / "bea__01_mnist_cam.json").read_text())["score"] == 3.0   # automatic


def test_a_removed_override_gives_the_automatic_score_back(course):
    (course / "overrides.csv").write_text(OVERRIDES, encoding="utf-8")
    assert collect(course) == 0
    (course / "overrides.csv").write_text("student_id,notebook,test,points,reason\n", encoding="utf-8")
    assert collect(course) == 0
    assert {s: (row["score"], row["override"]) for s, row in _rows(course).items() if s in AUTOMATIC} == {
        "ann": ("5.0", ""), "bea": ("3.0", ""), "cy": ("0.0", "")}
    recorded = _gradebook(course)
    assert {student: score for student, (score, _) in recorded.items()} == {"ann": 5.0, "bea": 3.0, "cy": 0.0}
    assert {cell for _, cells in recorded.values() for cell in cells.values()} <= {(1.0, None, None),
                                                                                  (2.0, None, None), (0.0, None, None)}


def test_a_new_automatic_score_under_an_override_is_said_and_the_override_kept(course, capsys):
    (course / "overrides.csv").write_text(OVERRIDES, encoding="utf-8")
    assert collect(course) == 0
    _save(course, "cy", {**AUTOMATIC["cy"], "test_show_cam_shape": 1.0})   # regraded: now 1 point
    capsys.readouterr()
    assert collect(course) == 0
    out = capsys.readouterr().out
    assert ("override cy/01_mnist_cam: 4 instead of 1 (graded by hand, mail of 3 March); note: its automatic score "
            "changed from 0 to 1 since the last run (the override still holds; remove its line 3 if it no longer "
            "should)") in out
    assert _rows(course)["cy"]["score"] == "4.0"


def test_export_uses_the_overrides_and_refuses_a_file_edited_since(course, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nann,Ann\nbea,Bea\ncy,Cy\n", encoding="utf-8")
    (course / "overrides.csv").write_text(OVERRIDES, encoding="utf-8")
    out = tmp_path / "out.csv"
    arguments = ["export", "--format", "csv", "--roster", str(roster), "--course-dir", str(course), str(out)]
    assert main(arguments) == 2   # edited after grades.csv was written (export raises; __main__ says it)
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "overrides.csv changed after grades.csv was written: run `python -m grader " \
                                      f"collect --course-dir {course}`" in error
    assert collect(course) == 0
    assert export("csv", roster, out, course) == 0
    # empty comments: all handed in
    assert out.read_text(encoding="utf-8").splitlines()[1:4] == ["ann,Ann,5,5,", "bea,Bea,5,5,", "cy,Cy,4,4,"]


def test_an_unreadable_overrides_file_rewrites_nothing(course, capsys):
    before = (course / "grades.csv").read_text()
    (course / "overrides.csv").write_text("student,points\nbea,5\n", encoding="utf-8")
    capsys.readouterr()
    assert collect(course) == 2
    out = capsys.readouterr().out
    assert "error: " in out and "overrides.csv line 1: no column student_id, notebook, test, reason" in out
    assert "grades.csv and the gradebook were not rewritten" in out
    assert (course / "grades.csv").read_text() == before
