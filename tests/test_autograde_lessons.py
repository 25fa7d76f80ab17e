"""Lessons 02, 04 and 05: their batteries (tests/submissions/cases_02.py, cases_04.py, cases_05.py)
graded in one autograde run (``jobs=2``, sandboxed), then every row checked: the reference gets full
marks, the untouched notebook 0, each right answer written differently full marks, each common
mistake exactly the points its module expects on each test, each trick that fools the in-kernel
tests exactly what its honest twin gets. And what each release puts into the student notebook.

Each lesson's graded tests come before its expensive parts, so a notebook takes 2-12 s here.
"""

import csv
import json

import pytest
from submissions import build, cases_02, cases_04, cases_05

from grader.course import NOTEBOOKS_DIR, SOLUTIONS_DIR
from grader.pipeline.autograde import autograde
from grader.student.bundle import graded_exercises

LESSONS = {cases.NOTEBOOK_NAME: cases for cases in (cases_02, cases_04, cases_05)}
TIMEOUT_SECONDS = 300
# What the student notebook holds of each exercise, and what it must not (pieces of the solutions).
STUBS = {
    "02_imagenet_saliency": (["def saliency_map(model, photos, class_index):"],
                             ["tf.reduce_sum(tf.abs(gradients), axis=-1)                       # M = Σ_k |g_k|"]),
    "04_zfnet_unpooling": (["def max_pool_with_switches(inputs, pool_size=2):",
                            "def unpool(pooled, switches, output_shape, pool_size=2):"],
                           ["argmax(axis=-1)", "switches // pool_size", "transpose(0, 1, 3, 5, 2, 4)"]),
    "05_filter_maximization": (["def ascent_update(images, gradients, learning_rate):",
                                "def gradient_ascent_step(model, layer_name, filter_index, image, learning_rate):"],
                               ["np.sqrt(np.mean(np.square(gradients)", "tape.gradient(degree, image)"]),
}


def student(lesson, name):
    """The student id of battery case ``name`` of ``lesson``: ``02_reference``, ``04_ties_last``, ..."""
    return f"{lesson[:2]}_{name}"


def expected_points(lesson):
    """``{case: points per test}`` of every submission of ``lesson``'s battery but the hostile ones."""
    cases = LESSONS[lesson]
    return {"reference": list(cases.FULL_POINTS), "untouched": [0] * len(cases.TEST_IDS), **cases.EXPECTED_POINTS}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions_lessons")
    course_dir = tmp_path_factory.mktemp("course_lessons")
    for lesson, cases in LESSONS.items():
        notebook = f"{lesson}.ipynb"
        build.write(build.solution_notebook(lesson), submissions, student(lesson, "reference"), notebook)
        build.write(build.load_student_notebook(lesson), submissions, student(lesson, "untouched"), notebook)
        for name, answer in {**cases.CORRECT_BODIES, **cases.WRONG_BODIES}.items():
            build.write(cases.with_answer(answer), submissions, student(lesson, name), notebook)
        for name, (make, *_) in cases.HOSTILE.items():
            build.write(make(), submissions, student(lesson, name), notebook)
    exit_code = autograde(submissions, course_dir, timeout_seconds=TIMEOUT_SECONDS, jobs=2)
    with open(course_dir / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return exit_code, rows


def points(rows, lesson, name):
    return [float(rows[student(lesson, name)][f"{lesson}:{test}"]) for test in LESSONS[lesson].TEST_IDS]


def test_every_submission_is_graded(graded_class):
    exit_code, rows = graded_class
    assert exit_code == 0
    assert set(rows) == {student(lesson, name) for lesson, cases in LESSONS.items()
                         for name in [*expected_points(lesson), *cases.HOSTILE]}
    for lesson, cases in LESSONS.items():
        for name in [*expected_points(lesson), *cases.HOSTILE]:
            row = rows[student(lesson, name)]
            assert row["notebook"] == lesson and float(row["max_score"]) == sum(cases.FULL_POINTS), name
            assert row["status"] == "graded", f"{lesson} {name}: {row['status']} ({row['reason']})"


@pytest.mark.parametrize("lesson", LESSONS)
def test_reference_gets_full_marks_and_untouched_gets_zero(graded_class, lesson):
    _, rows = graded_class
    reference = rows[student(lesson, "reference")]
    assert float(reference["score"]) == sum(LESSONS[lesson].FULL_POINTS), reference["reason"]
    assert reference["reason"] == "all tests passed"
    assert float(rows[student(lesson, "untouched")]["score"]) == 0
    assert points(rows, lesson, "untouched") == [0] * len(LESSONS[lesson].TEST_IDS)


@pytest.mark.parametrize("lesson, name", [(lesson, name) for lesson, cases in LESSONS.items()
                                          for name in sorted(cases.EXPECTED_POINTS)])
def test_each_answer_gets_its_expected_points_on_each_test(graded_class, lesson, name):
    """Right answers written differently get every point; each mistake loses exactly the tests aimed at it."""
    _, rows = graded_class
    assert points(rows, lesson, name) == expected_points(lesson)[name], rows[student(lesson, name)]["reason"]


@pytest.mark.parametrize("lesson, name", [(lesson, name) for lesson, cases in LESSONS.items()
                                          for name in sorted(cases.HOSTILE)])
def test_hostile_tricks_earn_nothing_over_the_honest_answer(graded_class, lesson, name):
    """Each trick gets exactly the per-test points of the honest submission it dresses up."""
    _, rows = graded_class
    _, honest, words = LESSONS[lesson].HOSTILE[name]
    row = rows[student(lesson, name)]
    assert points(rows, lesson, name) == points(rows, lesson, honest), row["reason"]
    assert float(row["score"]) < sum(LESSONS[lesson].FULL_POINTS)
    assert words in row["reason"]


def test_per_test_columns_add_up_to_the_score(graded_class):
    _, rows = graded_class
    for lesson in LESSONS:
        for name, row in rows.items():
            if row["notebook"] == lesson:
                assert sum(float(row[f"{lesson}:{test}"]) for test in LESSONS[lesson].TEST_IDS) == \
                    pytest.approx(float(row["score"])), name


# ---------------------------------------------------------------- the releases of 02, 04 and 05

def _notebook(path):
    return json.loads(path.read_text())


def _code(notebook):
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")


@pytest.mark.parametrize("lesson", LESSONS)
def test_student_notebook_has_the_stubs_and_no_answer(lesson):
    notebook = _notebook(NOTEBOOKS_DIR / f"{lesson}.ipynb")
    code = _code(notebook)
    stubs, answers = STUBS[lesson]
    assert code.count("raise NotImplementedError()") == len(stubs)
    assert all(stub in code for stub in stubs)
    for answer in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "from grader", *answers):
        assert answer not in code
    assert all(cell["outputs"] == [] for cell in notebook["cells"] if cell["cell_type"] == "code")


@pytest.mark.parametrize("lesson", LESSONS)
def test_graded_cells_carry_points_docstrings_and_hidden_tests(lesson):
    cases = LESSONS[lesson]
    cells = _notebook(SOLUTIONS_DIR / f"{lesson}.ipynb")["cells"]
    tests = [cell for cell in cells if cell["metadata"].get("nbgrader", {}).get("grade")]
    assert [cell["metadata"]["nbgrader"]["grade_id"] for cell in tests] == cases.TEST_IDS
    assert [cell["metadata"]["nbgrader"]["points"] for cell in tests] == list(cases.FULL_POINTS)
    assert all("".join(cell["source"]).startswith(("'''", '"""')) for cell in tests)
    assert all("### BEGIN HIDDEN TESTS" in "".join(cell["source"]) for cell in tests)
    # The exercise's heading gives the points the tests add up to (the student bundle's table reads it).
    assert [points for name, _, points in graded_exercises() if name == lesson] == [sum(cases.FULL_POINTS)]


@pytest.mark.parametrize("lesson, expensive", [("02_imagenet_saliency", "smoothgrad("),
                                               ("04_zfnet_unpooling", "trained_gap_cnn("),
                                               ("05_filter_maximization", "imagenet_classifier(")])
def test_the_graded_tests_come_before_the_expensive_part(lesson, expensive):
    """Cells after the last graded test are not run when grading: the lesson's slow part lies there."""
    cells = _notebook(SOLUTIONS_DIR / f"{lesson}.ipynb")["cells"]
    last_test = max(i for i, cell in enumerate(cells) if cell["metadata"].get("nbgrader", {}).get("grade"))
    assert not any(expensive in "".join(cell["source"]) for cell in cells[:last_test + 1])
    assert any(expensive in "".join(cell["source"]) for cell in cells[last_test + 1:])
