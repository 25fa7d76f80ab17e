"""The class report (grader/pipeline/report.py) of a hand-made class of 01_mnist_cam: results and autograded
notebooks written here, nothing graded. (The report of a graded class: tests/test_autograde.py.)"""

import json
import statistics

import pytest
from report_tables import read_report

from grader.pipeline.collect import print_report
from grader.pipeline.overrides import apply_overrides
from grader.pipeline.report import ONLY_THE_CHECK, STUB_MESSAGE, mistake_pattern, points_per_test, write_report
from grader.pipeline.results import Grade

NOTEBOOK = "01_mnist_cam"
POINTS = points_per_test(NOTEBOOK)   # {test: points} of the solution's graded cells
SHAPE, VALUES, PREDICTED = "test_show_cam_shape", "test_show_cam_values", "test_show_cam_predicted_class"
TRUE_LABEL = ("AssertionError: image {}: true label {}, predicted {}, and your map is the CAM of the true label {}. "
              "CAM shows what the network saw for its decision: use the predicted class, the argmax of "
              "results[image_index].")
HOSTILE = "AssertionError: <script>alert('report')</script><img src=x onerror=alert(1)>"


def autograded_notebook(course_dir, student, errors):
    """Write ``student``'s autograded notebook: one cell per graded test of the solution, with the
    error ``errors[test]`` (``"Name: value"``) when there is one."""
    cells = []
    for test, points in POINTS.items():
        outputs = []
        if test in errors:
            name, _, value = errors[test].partition(": ")
            outputs.append({"output_type": "error", "ename": name, "evalue": value, "traceback": []})
        cells.append({"cell_type": "code", "source": "", "execution_count": 1, "outputs": outputs,
                      "metadata": {"nbgrader": {"grade": True, "grade_id": test, "points": points}}})
    folder = course_dir / "autograded" / student / NOTEBOOK
    folder.mkdir(parents=True)
    (folder / f"{NOTEBOOK}.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                         "nbformat_minor": 5}))


def graded(course_dir, student, errors=(), failed=(), seconds=5.0, late=None, partial=()):
    """A graded result: the tests in ``errors`` (``{test: message}``) and ``failed`` earn 0, those
    in ``partial`` (``{test: points}``) their points."""
    errors = dict(errors)
    tests = {test: 0.0 if test in errors or test in failed else points for test, points in POINTS.items()}
    tests.update(partial)
    autograded_notebook(course_dir, student, errors)
    return Grade(student, NOTEBOOK, score=sum(tests.values()), max_score=sum(POINTS.values()), tests=tests,
                 seconds=seconds, late=late)


@pytest.fixture
def made_class(tmp_path):
    """Nine results: two make the true-label mistake (with different numbers), one never started,
    one is fooled only by the independent check, one earns half a test's points, one raises a
    message with HTML, one could not be graded, one hand-in was refused."""
    course = tmp_path / "course"
    grades = [
        graded(course, "alice", seconds=12.5),
        graded(course, "bob", {PREDICTED: TRUE_LABEL.format(17, 8, 1, 8)}, late=True),
        graded(course, "carol", {PREDICTED: TRUE_LABEL.format(3, 2, 7, 2),
                                 SHAPE: "AssertionError: expected shape (28, 28), got (3, 3)"}, seconds=30.0),
        graded(course, "dave", {test: "NotImplementedError" for test in POINTS}),
        graded(course, "erin", failed=[VALUES]),
        graded(course, "hank", {VALUES: HOSTILE}),
        graded(course, "ivan", partial={VALUES: POINTS[VALUES] / 2}),
        Grade("frank", NOTEBOOK, max_score=5.0, status="invalid", reason="not a valid notebook (cells is a number)",
              tests={test: 0.0 for test in POINTS}, seconds=0.1),
        Grade("gina", "-", status="refused", reason="essay.pdf: not a notebook; not graded", late=True),
    ]
    path, report = write_report(course, grades)
    return grades, path, report


def test_the_solution_has_the_three_tests_this_class_is_made_of():
    assert sorted(POINTS) == sorted([SHAPE, VALUES, PREDICTED]) and all(points > 0 for points in POINTS.values())


def test_one_mistake_with_other_numbers_is_counted_once_with_an_example(made_class):
    _, _, report = made_class
    mistakes = {(m.test, m.pattern): m for m in report.mistakes}
    true_label = mistakes[(PREDICTED, mistake_pattern(TRUE_LABEL.format(1, 1, 1, 1)))]
    assert (true_label.count, true_label.students, true_label.example) == (2, ["bob", "carol"],
                                                                           TRUE_LABEL.format(17, 8, 1, 8))
    assert [(m.test, m.students) for m in report.mistakes if m.pattern == STUB_MESSAGE] == [
        (test, ["dave"]) for test in sorted(POINTS)]
    assert mistakes[(VALUES, ONLY_THE_CHECK)].students == ["erin", "ivan"]
    assert sum(m.count for m in report.mistakes) == 9   # bob 1, carol 2, dave 3, erin 1, hank 1, ivan 1


def test_the_page_counts_tests_scores_and_the_others(made_class):
    grades, path, _ = made_class
    tables, images = read_report(path.read_text())
    handed_in = [g.score for g in grades if g.status != "refused"]
    assert [row[:5] + [float(cell) for cell in row[5:]] for row in tables["notebooks"]] == [
        [NOTEBOOK, "8", "7", "1", "1", pytest.approx(statistics.mean(handed_in), abs=0.005),
         statistics.median(handed_in), 5]]
    # of the 7 graded: carol, dave / dave, erin, hank, ivan / bob, carol, dave
    passed = {SHAPE: 5, VALUES: 3, PREDICTED: 4}
    assert [row[1:5] for row in tables["tests"]] == [[test, f"{POINTS[test]:g}", str(passed[test]), "7"]
                                                     for test in sorted(POINTS)]
    assert tables["summary"] == [["9", "8", "7", "1", "1", "2", "0"]]
    assert [row[:3] for row in tables["ungraded"]] == [["frank", NOTEBOOK, "invalid"]]
    assert tables["refused"] == [["gina", "-", "essay.pdf: not a notebook; not graded"]]
    assert [row[:2] for row in tables["late"]] == [["bob", NOTEBOOK], ["gina", "-"]]
    assert [row[0] for row in tables["slowest"]] == ["carol", "alice", "bob", "dave", "erin"]   # then hank, ivan
    assert tables["overrides"] == []
    assert [image["alt"] for image in images] == [f"scores of {NOTEBOOK}: 0: 2, 2: 1, 3: 3, 4: 1, 5: 1"]


def test_a_message_a_submission_wrote_is_shown_as_text(made_class):
    _, path, _ = made_class
    page = path.read_text()
    tables, _ = read_report(page)
    assert [row[3] for row in tables["mistakes"] if row[4] == "hank"] == [HOSTILE]
    assert "<script>" not in page and "<img src=x" not in page
    assert "default-src 'none'; img-src data:" in page and "://" not in page   # loads nothing


def test_overrides_are_listed_when_results_carry_them(tmp_path):
    grade = graded(tmp_path, "bob", {PREDICTED: TRUE_LABEL.format(17, 8, 1, 8)})
    grade.override = f"{PREDICTED} 0 -> 2: the test's data was wrong"   # as grader/pipeline/overrides.py says it
    path, _ = write_report(tmp_path, [grade, graded(tmp_path, "alice")])
    tables, _ = read_report(path.read_text())
    assert tables["overrides"] == [["bob", NOTEBOOK, f"{PREDICTED} 0 -> 2: the test's data was wrong"]]
    assert tables["summary"][0][-1] == "1"


def test_every_run_prints_the_reports_headline(made_class, capsys):
    grades, path, _ = made_class
    path.unlink()
    print_report(path.parent, grades)
    lines = capsys.readouterr().out.splitlines()
    mean = statistics.mean(g.score for g in grades if g.status != "refused")
    assert lines[0] == f"report: {path}" and path.is_file()
    assert lines[1] == (f"  {NOTEBOOK}: 8 handed in, 7 graded, mean {mean:g}, median 3 of 5; 1 could not be graded, "
                        "1 late")
    assert mean == 2.5
    assert lines[-1].startswith(f"  most common mistake: {NOTEBOOK} {PREDICTED}, 2 of 7 graded (e.g. bob): "
                                "AssertionError: image 17: true label 8") and lines[-1].endswith("...")


def test_an_override_reaches_the_reports_numbers(made_class):
    """COURSE/overrides.csv (grader/pipeline/overrides.py) gives bob the points of the test he failed: the
    report built from the overridden results counts him as passing it, lists the override, and
    leaves him out of the mistake."""
    grades, path, _ = made_class
    (path.parent / "overrides.csv").write_text(
        "student_id,notebook,test,points,reason\n"
        f"bob,{NOTEBOOK},{PREDICTED},{POINTS[PREDICTED]:g},explained in a comment\n")
    overridden, _ = apply_overrides(path.parent, grades, {NOTEBOOK: POINTS})
    _, report = write_report(path.parent, overridden)
    tables, _ = read_report(path.read_text())
    assert [row[3] for row in tables["tests"] if row[1] == PREDICTED] == ["5"]   # 4 before
    assert [(row[0], row[2].endswith("explained in a comment")) for row in tables["overrides"]] == [("bob", True)]
    assert [m.students for m in report.mistakes if "true label" in m.pattern] == [["carol"]]
    assert report.notebooks[0].mean == statistics.mean(g.score for g in overridden if g.status != "refused") > 2.5
