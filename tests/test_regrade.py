"""An instructor's grading day on one small class of 01 (three students, --jobs 1): an override
survives a regrade and reaches export; --student regrades one student and keeps the other two rows
as they were; a download holding one student keeps the class of three and says so; only
--drop-missing drops students. Three notebooks are graded, then one again (about a minute here).
"""

import contextlib
import csv
import io
import shutil

import pytest
from submissions import build

from grader.course import gradebook_url
from grader.export.grades import export
from grader.pipeline.autograde import autograde

CLASS = {"ann": "reference", "bea": "true_label", "cy": "untouched"}
OVERRIDE = ("student_id,notebook,test,points,reason\n"
            "bea,01_mnist_cam,test_show_cam_predicted_class,2,the predicted class is 8 here too: mislabelled image\n")


def _run(submissions, course_dir, *students, drop_missing=False):
    """One autograde run; ``(exit code, what it printed)``."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = autograde(submissions, course_dir, timeout_seconds=300, jobs=1, progress=False, students=students,
                         drop_missing=drop_missing)
    return code, printed.getvalue()


def _rows(course_dir):
    with open(course_dir / "grades.csv", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _gradebook_scores(course_dir):
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course_dir)) as gradebook:
        return {s.student.id: s.score for s in gradebook.assignment_submissions("01_mnist_cam")}


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The day, step by step; each step's exit code, output, grades.csv rows and gradebook scores."""
    root = tmp_path_factory.mktemp("day")
    whole, one, course = root / "whole", root / "one", root / "course"
    for student, kind in CLASS.items():
        build.write(build.notebook_01(kind), whole, student)
    build.write(build.notebook_01("untouched"), one, "cy")   # the same file: its result is reused
    steps = {}
    steps["first"] = (*_run(whole, course), _rows(course), _gradebook_scores(course))
    (course / "overrides.csv").write_text(OVERRIDE, encoding="utf-8")
    steps["student"] = (*_run(whole, course, "bea"), _rows(course), _gradebook_scores(course))
    steps["one"] = (*_run(one, course), _rows(course), _gradebook_scores(course))
    steps["unknown"] = (*_run(whole, course, "zed"), _rows(course), _gradebook_scores(course))
    dropped = shutil.copytree(course, root / "dropped")
    steps["drop"] = (*_run(one, dropped, drop_missing=True), _rows(dropped), _gradebook_scores(dropped))
    return steps, course, root


def _without_seconds(row):
    return {key: value for key, value in row.items() if key != "seconds"}


def test_the_class_is_graded_as_the_battery_says(day):
    code, out, rows, recorded = day[0]["first"]
    assert code == 0, out[-2000:]
    assert [_without_seconds(rows[s]) for s in CLASS] == [build.expected_row_01(s, k) for s, k in CLASS.items()]
    assert "3 notebook(s) graded, 0 reused" in out
    assert recorded == {"ann": 5.0, "bea": 3.0, "cy": 0.0}


def test_student_regrades_one_student_and_keeps_the_other_two_rows(day):
    first_rows = day[0]["first"][2]
    code, out, rows, recorded = day[0]["student"]
    assert code == 0, out[-2000:]
    graded = [line.split("] ", 1)[1] for line in out.splitlines() if "] graded " in line]
    assert [line.split(":")[0] for line in graded] == ["graded bea/01_mnist_cam"]   # bea alone, graded again
    assert "1 notebook(s) graded, 0 reused from saved results (unchanged submissions) (--student bea)" in out
    assert "kept 2 student(s) of the course folder not chosen with --student, as they were: ann, cy" in out
    assert sorted(rows) == ["ann", "bea", "cy"]
    assert rows["ann"] == first_rows["ann"] and rows["cy"] == first_rows["cy"]   # seconds included: untouched


def test_an_override_applies_to_the_regraded_student_and_the_gradebook(day):
    code, out, rows, recorded = day[0]["student"]
    assert (rows["bea"]["score"], rows["bea"]["01_mnist_cam:test_show_cam_predicted_class"]) == ("5.0", "2")
    assert rows["bea"]["override"] == ("test_show_cam_predicted_class 0 -> 2: the predicted class is 8 here too: "
                                       "mislabelled image")
    assert "override bea/01_mnist_cam:test_show_cam_predicted_class: 2 instead of 0" in out
    assert recorded == {"ann": 5.0, "bea": 5.0, "cy": 0.0}


def test_a_download_of_one_student_keeps_the_class_of_three_and_says_so(day):
    before = day[0]["student"][2]
    code, out, rows, recorded = day[0]["one"]
    assert code == 0, out[-2000:]
    assert "0 notebook(s) graded, 1 reused from saved results" in out
    assert ("kept 2 student(s) of the course folder not in this download, as they were: ann, bea "
            "(--drop-missing removes them)") in out
    assert [_without_seconds(rows[s]) for s in sorted(rows)] == [_without_seconds(before[s]) for s in sorted(before)]
    assert rows["bea"]["score"] == "5.0" and rows["bea"]["override"]   # the override survives the rerun
    assert recorded == {"ann": 5.0, "bea": 5.0, "cy": 0.0}


def test_the_override_reaches_export(day, tmp_path):
    _, course, _ = day
    roster, out = tmp_path / "roster.csv", tmp_path / "out.csv"
    roster.write_text("student_id,name\nann,Ann\nbea,Bea\ncy,Cy\n", encoding="utf-8")
    assert export("csv", roster, out, course) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        "student_id,name,01_mnist_cam,total,comment", "ann,Ann,5,5,", "bea,Bea,5,5,", "cy,Cy,0,0,"]


def test_a_student_the_download_does_not_hold_is_a_one_line_error_and_changes_nothing(day):
    before = day[0]["one"][2]
    code, out, rows, _ = day[0]["unknown"]
    assert code == 2
    assert out.splitlines() == [f"error: --student zed: {day[2] / 'whole'} holds no submission of 'zed' "
                                "(its students: ann, bea, cy)"]
    assert rows == before


def test_drop_missing_drops_the_students_not_in_the_download(day):
    code, out, rows, recorded = day[0]["drop"]
    assert code == 0, out[-2000:]
    assert sorted(rows) == ["cy"] and recorded == {"cy": 0.0}
    assert "--drop-missing: dropped 2 student(s) not in this download: ann, bea (their results stay in results/)" in out
    assert "overrides.csv line 2: no grade of bea in 01_mnist_cam in this class: not applied (kept in the file)" in out


# ---------------------------------------------------------------- which students a run keeps (no grading)

PREVIOUS = {"lms": "folders",
            "submissions": [{"student_id": s, "notebook": "01_mnist_cam", "key": f"k-{s}"}
                            for s in ("ann", "bea", "cy")],
            "refusals": [{"student_id": "dan", "notebook": "-", "reason": "dan.pdf: not a notebook"}]}


def test_keep_others_keeps_every_student_not_graded_now():
    from grader.pipeline.class_list import keep_others, students_of

    kept, dropped, notes = keep_others(PREVIOUS, {"bea"}, "folders", drop_missing=False)
    assert (students_of(kept), dropped, notes) == (["ann", "cy", "dan"], set(), [])
    assert kept["refusals"] == PREVIOUS["refusals"]


def test_drop_missing_with_student_drops_only_who_the_download_does_not_hold():
    from grader.pipeline.class_list import keep_others, students_of

    kept, dropped, _ = keep_others(PREVIOUS, {"bea"}, "folders", drop_missing=True, downloaded={"ann", "bea"})
    assert (students_of(kept), sorted(dropped)) == (["ann"], ["cy", "dan"])


def test_a_class_from_another_platform_is_not_mixed_in():
    from grader.pipeline.class_list import keep_others, students_of

    kept, dropped, notes = keep_others(PREVIOUS, {"123"}, "canvas", drop_missing=False)
    assert students_of(kept) == [] and notes == [
        "the course folder's class came from a folders download and this one is canvas: its students are not kept "
        "(their results stay in results/)"]
