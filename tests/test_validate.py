"""python -m grader validate: a student's self-check exits non-zero while a visible test or a
self-check fails, and zero for correct answers."""

import subprocess
import sys

import nbformat
import pytest
from submissions import build, cases_02, cases_03, cases_04, cases_05

from grader.course import NOTEBOOKS_DIR, REPO_ROOT


def run_validate(path):
    result = subprocess.run([sys.executable, "-m", "grader", "validate", str(path)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout, result.stdout[-3000:] + result.stderr[-2000:]


def test_untouched_student_notebook_fails_validation(tmp_path):
    code, stdout, shown = run_validate(NOTEBOOKS_DIR / "01_mnist_cam.ipynb")
    assert code == 1, shown
    assert "a test failed" in stdout and "NotImplementedError" in stdout


def test_missing_notebook_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grader", "validate", str(tmp_path / "nope.ipynb")],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "does not exist" in result.stderr   # errors go to stderr (grader.errors)


@pytest.mark.parametrize("body, expected_code, expected_words", [
    ("correct_einsum", 0, ["every visible test and self-check passes"]),
    # The visible test of the predicted class says what went wrong; the self-check fails too.
    ("true_label", 1, ["a test failed", "uses the predicted class", "your map is the CAM of the true label",
                       "a cell raised an error", "expected all ones"]),
])
def test_show_cam_answers_are_validated(tmp_path, body, expected_code, expected_words):
    path = build.write(build.with_show_cam(build.SHOW_CAM_BODIES[body]), tmp_path, "student")
    code, stdout, shown = run_validate(path)
    assert code == expected_code, shown
    for words in expected_words:
        assert words in stdout, shown


# Each graded exercise of 02-05: a common mistake exits 1 and the output names it; a right answer exits 0
# (shown for 03 and 04: validate runs the whole notebook, and 02's and 05's take 25-55 s more each in CI).
# (lesson's cases module, its answer, the exit code, words the output must hold)
ANSWERS = [
    (cases_02, "top_prediction", 1, ["a test failed",
                                     "explains the class it is given, also when that is not the top prediction",
                                     "not the top prediction 0"]),
    (cases_03, "correct_sum_numpy", 0, ["every visible test and self-check passes"]),
    # Always the top prediction's map, whatever class it is asked for.
    (cases_03, "ignores_label", 1, ["a test failed", "explains the label it is given",
                                    "must explain the label predicted_label it is given"]),
    (cases_04, "correct_loops", 0, ["every visible test and self-check passes"]),
    (cases_04, "last_maximum_on_ties", 1, ["a test failed", "Ties: the switch is the first maximum",
                                           "would be the last maximum: a comparison with >= instead of >"]),
    (cases_05, "l2_norm", 1, ["a test failed", "each image moved by 0.5 in L2 norm: divide by the root mean square"]),
]


@pytest.mark.parametrize("cases, answer, expected_code, expected_words", ANSWERS,
                         ids=[f"{cases.NOTEBOOK_NAME[:2]}-{answer}" for cases, answer, _, _ in ANSWERS])
def test_answers_are_validated(tmp_path, cases, answer, expected_code, expected_words):
    bodies = {**cases.CORRECT_BODIES, **cases.WRONG_BODIES}
    path = build.write(cases.with_answer(bodies[answer]), tmp_path, "student", f"{cases.NOTEBOOK_NAME}.ipynb")
    code, stdout, shown = run_validate(path)
    assert code == expected_code, shown
    for words in expected_words:
        assert words in stdout, shown


def test_an_error_in_an_ungraded_cell_fails_validation(tmp_path):
    """nbgrader's Validator reports only graded cells; a failing self-check (an assert in an
    ungraded cell) must fail too, while an exercise not done yet (NotImplementedError) is a note."""
    notebook = nbformat.v4.new_notebook()
    graded = nbformat.v4.new_code_cell("'''one plus one'''\nassert 1 + 1 == 2\n")
    graded.metadata["nbgrader"] = {"grade": True, "grade_id": "test_sum", "locked": True, "points": 1,
                                   "schema_version": 3, "solution": False, "task": False}
    notebook.cells = [nbformat.v4.new_code_cell("def optional():\n    raise NotImplementedError()\n\noptional()"),
                      nbformat.v4.new_code_cell("answer = 3\nassert answer == 4, 'self-check: expected 4'"),
                      graded]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, str(path))
    code, stdout, shown = run_validate(path)
    assert code == 1, shown
    assert "a cell raised an error" in stdout and "self-check: expected 4" in stdout, shown
    assert "a test failed" not in stdout and "1 problem(s)" in stdout, shown
    assert "1 cell(s) stopped at an exercise not done yet" in stdout, shown


def test_a_kernel_that_dies_while_starting_is_started_once_more(tmp_path, monkeypatch, capsys):
    """The first kernel start fails as it did once on a busy machine; validate says so, starts
    it again and reports the notebook's real result (here: every test passes)."""
    from nbgrader.validator import Validator

    from grader.student.validate import validate

    notebook = nbformat.v4.new_notebook()
    graded = nbformat.v4.new_code_cell("'''one plus one'''\nassert 1 + 1 == 2\n")
    graded.metadata["nbgrader"] = {"grade": True, "grade_id": "test_sum", "locked": True, "points": 1,
                                   "schema_version": 3, "solution": False, "task": False}
    notebook.cells = [graded]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, str(path))
    real, calls = Validator.validate, []

    def dies_the_first_time(self, filename):
        calls.append(filename)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(self, filename)

    monkeypatch.setattr(Validator, "validate", dies_the_first_time)
    assert validate(path) == 0
    out = capsys.readouterr().out
    assert len(calls) == 2 and "starting it again" in out and "every visible test and self-check passes" in out, out
