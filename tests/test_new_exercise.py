"""Adding a graded exercise the way docs/instructors.md ("Adding a graded exercise") says: a solution
notebook with nbgrader's cells and one module under grader/checks/, nothing else. In a copy of the
repository, a tiny exercise (``double(x)``) is added, released and autograded by the command line,
on the solution, a wrong answer, and a wrong answer that fools the in-kernel tests (it replaces
``numpy.allclose``): the independent check, which only the new module declares, catches the last."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from grader.course import REPO_ROOT

ASSIGNMENT = "99_tiny"

# grader/checks/tiny.py as the walkthrough writes it: the reference, the fixture, the judge, the check.
CHECK_MODULE = '''"""99_tiny: ``double(x)`` returns twice ``x``."""

from __future__ import annotations

import numpy as np

from grader.checks.capture import Check

ASSIGNMENT = "99_tiny"
REFERENCES = {"double_reference": None}   # the hidden test calls it through grader.reference


def double_reference(x: float | np.ndarray) -> np.ndarray:
    """What ``double(x)`` must return."""
    return 2 * np.asarray(x, dtype=np.float64)


def make_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Four arrays of three random numbers, drawn for this run."""
    return {"values": rng.normal(size=(4, 3)), "cases": np.arange(4)}


def judge(fixture: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """test_double earns its points when every case is right."""
    right = all(outputs.get(f"case_{case}") is not None
                and outputs[f"case_{case}"].shape == (3,)
                and np.allclose(outputs[f"case_{case}"], double_reference(fixture["values"][case]))
                for case in fixture["cases"])
    return {"test_double": float(right)}


CHECK = Check(
    function="double",
    replaced=(),
    call='function(fixture["values"][case])',
    make_fixture=make_fixture,
    judge=judge,
    largest_output=lambda fixture, case: fixture["values"].shape[1:],
)
'''

SOLUTION = '''def double(x):
    """Twice x: a number, or a NumPy array element by element."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x, dtype=float)
    ### END SOLUTION
'''

TEST = '''"""double returns twice its argument, for a number and for an array."""
assert np.allclose(double(3), 6)
assert np.allclose(double(numbers), [0, 2, 4, 6])
### BEGIN HIDDEN TESTS
from grader.reference import double_reference

assert np.allclose(double(-numbers), double_reference(-numbers))
### END HIDDEN TESTS
'''

ANSWERS = {
    "right": "def double(x):\n    return 2 * np.asarray(x, dtype=float)\n",
    "wrong": "def double(x):\n    return np.asarray(x, dtype=float) + 2\n",
    # Wrong, and every np.allclose of the notebook's tests now says yes.
    "fools_the_test": "np.allclose = lambda *args, **kwargs: True\n\n\n"
                      "def double(x):\n    return np.asarray(x, dtype=float) + 2\n",
}


def _metadata(grade_id, solution=False, points=None):
    """nbgrader's cell metadata: a solution cell, or a graded test cell (locked) worth ``points``."""
    metadata = {"grade": points is not None, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "task": False}
    if points is not None:
        metadata["points"] = points
    return {"nbgrader": metadata}


def _solution_notebook():
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · Doubling\n\nWrite `double(x)`: twice `x`, a number or an array."),
        nbformat.v4.new_code_cell("import numpy as np\n\nnumbers = np.arange(4.0)"),
        nbformat.v4.new_code_cell(SOLUTION, metadata=_metadata("double", solution=True)),
        nbformat.v4.new_code_cell(TEST, metadata=_metadata("test_double", points=2)),
    ], metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}})


def _copy_of_the_repository(destination):
    """The repository's files (tracked, and new ones not ignored: no .venv, no build/) in ``destination``,
    without the lessons' notebooks: ``release`` regenerates every solution notebook (about 8 s of
    nbgrader each), and the lessons' checks modules are there all the same."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if name.startswith(("solutions/", "notebooks/")) or not source.is_file():   # deleted in the working tree
            continue
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / name)


def _grader(arguments, copy, environment):
    """``python -m grader ARGUMENTS`` in the copy (so the copy's grader package is the one imported)."""
    return subprocess.run([sys.executable, "-m", "grader", *arguments], cwd=copy, env=environment,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_course(tmp_path_factory):
    copy = tmp_path_factory.mktemp("repository")
    _copy_of_the_repository(copy)
    (copy / "solutions").mkdir()
    nbformat.write(_solution_notebook(), str(copy / "solutions" / f"{ASSIGNMENT}.ipynb"))
    (copy / "grader" / "checks" / "tiny.py").write_text(CHECK_MODULE)
    environment = {**os.environ, "COURSE_OFFLINE": "1", "COURSE_CACHE": str(tmp_path_factory.mktemp("cache"))}
    environment.pop("PYTHONPATH", None)
    found = subprocess.run([sys.executable, "-c", "from grader import checks; print(*checks.CHECKS)"], cwd=copy,
                           env=environment, capture_output=True, text=True, timeout=120)
    assert found.stdout.split() == ["01_mnist_cam", "02_imagenet_saliency", "03_cats_dogs_gradcam",
                                    "04_zfnet_unpooling", "05_filter_maximization", ASSIGNMENT], found.stderr
    released = _grader(["release"], copy, environment)
    assert released.returncode == 0, released.stdout + released.stderr
    assert f"released 1 notebooks (1 changed) into {copy / 'notebooks'}" in released.stdout + released.stderr
    student_notebook = nbformat.read(str(copy / "notebooks" / f"{ASSIGNMENT}.ipynb"), as_version=4)
    submissions = tmp_path_factory.mktemp("submissions")
    for student, answer in ANSWERS.items():
        notebook = nbformat.from_dict(student_notebook)
        notebook.cells[2].source = answer
        (submissions / student).mkdir()
        nbformat.write(notebook, str(submissions / student / f"{ASSIGNMENT}.ipynb"))
    course_dir = tmp_path_factory.mktemp("course")
    graded = _grader(["autograde", str(submissions), "--course-dir", str(course_dir), "--progress", "lines"],
                     copy, environment)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with open(course_dir / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return student_notebook, rows, graded.stdout + graded.stderr


def test_release_writes_the_student_notebook(tiny_course):
    """The solution is replaced by nbgrader's stub, the hidden test is gone, the graded test cell stays."""
    student_notebook, _, _ = tiny_course
    sources = [cell.source for cell in student_notebook.cells]
    assert "raise NotImplementedError()" in sources[2] and "2 * np.asarray" not in sources[2]
    assert sources[3].startswith('"""double returns twice') and "HIDDEN" not in sources[3]
    assert "double(-numbers)" not in sources[3]
    assert student_notebook.cells[3].metadata["nbgrader"]["points"] == 2


def test_the_solution_earns_every_point(tiny_course):
    _, rows, _ = tiny_course
    row = rows["right"]
    assert (row["notebook"], row["score"], row["max_score"], row["status"]) == (ASSIGNMENT, "2.0", "2.0", "graded")
    assert row["reason"] == "all tests passed" and row[f"{ASSIGNMENT}:test_double"] == "2"


def test_a_wrong_answer_fails_in_the_notebook(tiny_course):
    _, rows, _ = tiny_course
    row = rows["wrong"]
    assert (row["score"], row["status"], row["reason"]) == ("0.0", "graded", "failed: test_double")
    assert row[f"{ASSIGNMENT}:test_double"] == "0"


def test_the_independent_check_catches_what_fools_the_notebook(tiny_course):
    """nbgrader's test passed (np.allclose says yes to anything); the check of grader/checks/tiny.py,
    judged in the grader's process on inputs drawn for this run, did not: the test earns nothing."""
    _, rows, _ = tiny_course
    row = rows["fools_the_test"]
    assert (row["score"], row["status"]) == ("0.0", "graded")
    assert row["reason"] == ("failed: test_double (passed in the notebook but not the independent check: "
                             "test_double)")
    assert row[f"{ASSIGNMENT}:test_double"] == "0"


def test_the_walkthrough_shows_this_exercise():
    """docs/instructors.md's worked example is this test's exercise, cell for cell (no kernel needed)."""
    walkthrough = (REPO_ROOT / "docs" / "instructors.md").read_text().split("## Adding a graded exercise")[1]
    for code in (SOLUTION, TEST, CHECK_MODULE):
        assert f"```python\n{code}```" in walkthrough
    shown = [json.loads("{" + block + "}") for block in re.findall(r"```json\n(.*?)```", walkthrough, re.DOTALL)]
    assert shown == [_metadata("double", solution=True), _metadata("test_double", points=2)]


def _checks_package(folder, name, modules):
    """A package ``name`` in ``folder`` holding ``modules`` ({module name: source})."""
    (folder / name).mkdir()
    (folder / name / "__init__.py").write_text("")
    for module, source in modules.items():
        (folder / name / f"{module}.py").write_text(source)
    return [str(folder / name)]


def test_the_registry_finds_each_module_once_and_refuses_a_half_declared_one(tmp_path, monkeypatch):
    """What grader/checks/__init__.py does with the package's modules, on packages of a test's own."""
    from grader import checks

    monkeypatch.syspath_prepend(str(tmp_path))
    declared = ('from grader.checks.capture import Check\nASSIGNMENT = "{}"\n'
                'CHECK = Check("f", (), "function()", None, None, None)\n')
    path = _checks_package(tmp_path, "one_each", {"a": declared.format("01_a"), "b": declared.format("02_b"),
                                                  "generic": "HELPER = 1\n"})
    assert list(checks._find_checks("one_each", path)) == ["01_a", "02_b"]
    path = _checks_package(tmp_path, "twice", {"a": declared.format("01_a"), "b": declared.format("01_a")})
    with pytest.raises(RuntimeError, match="two modules of twice declare the check of 01_a"):
        checks._find_checks("twice", path)
    path = _checks_package(tmp_path, "no_check", {"a": 'ASSIGNMENT = "01_a"\n'})
    with pytest.raises(RuntimeError, match=r"no_check.a declares ASSIGNMENT = '01_a' but no CHECK \(a Check\)"):
        checks._find_checks("no_check", path)


def test_the_hidden_tests_reference_is_declared_in_the_module_alone(tiny_course):
    """The hidden test calls ``grader.reference.double_reference``, which only grader/checks/tiny.py
    names (its REFERENCES): the grader recorded its answer once from the solution, and the solution
    passed the hidden test in the graded kernel (in the sandbox, that kernel replays the recording)."""
    _, rows, output = tiny_course
    assert "recording the reference answers of 99_tiny" in output
    assert rows["right"][f"{ASSIGNMENT}:test_double"] == "2"


def test_a_reference_declared_by_two_modules_is_refused(tmp_path, monkeypatch):
    """Hidden tests call a reference by its name alone, so two exercise modules may not both declare it."""
    from grader import checks

    monkeypatch.syspath_prepend(str(tmp_path))
    declared = ('from grader.checks.capture import Check\nASSIGNMENT = "{}"\nREFERENCES = {{"same": None}}\n'
                'def same():\n    return 0\n'
                'CHECK = Check("f", (), "function()", None, None, None)\n')
    path = _checks_package(tmp_path, "one_name", {"a": declared.format("01_a")})
    assert list(checks._find_references("one_name", path)) == ["same"]
    path = _checks_package(tmp_path, "same_name", {"a": declared.format("01_a"), "b": declared.format("02_b")})
    with pytest.raises(RuntimeError, match="two modules of same_name declare the reference 'same'"):
        checks._find_references("same_name", path)
