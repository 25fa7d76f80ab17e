import json
import shutil
import subprocess
import sys
from pathlib import Path

from grader.course import NOTEBOOKS_DIR, REPO_ROOT, SOLUTIONS_DIR
from grader.student.release import _normalized, release

STUDENT = NOTEBOOKS_DIR / "01_mnist_cam.ipynb"


def test_release_check_passes_on_the_committed_notebooks():
    result = subprocess.run([sys.executable, "-m", "grader", "release", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_release_check_finds_stale_and_missing_notebooks_and_release_fixes_them(tmp_path, capsys):
    # Two of the solutions are enough (and twice as quick as all five).
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    notebooks.mkdir()
    for name in (STUDENT.name, "04_zfnet_unpooling.ipynb"):
        shutil.copyfile(SOLUTIONS_DIR / name, solutions / name)
    notebook = json.loads(STUDENT.read_text())
    notebook["cells"][0]["source"] = "# edited by hand"
    (notebooks / STUDENT.name).write_text(json.dumps(notebook))
    assert release(check=True, notebooks_dir=notebooks, solutions_dir=solutions) == 1
    out = capsys.readouterr().out
    assert "stale: notebooks/01_mnist_cam.ipynb" in out and "stale: notebooks/04_zfnet_unpooling.ipynb" in out
    assert out.count("stale: ") == 2  # one edited, one missing
    assert json.loads((notebooks / STUDENT.name).read_text())["cells"][0]["source"] == "# edited by hand"
    assert release(notebooks_dir=notebooks, solutions_dir=solutions) == 0
    for name in (STUDENT.name, "04_zfnet_unpooling.ipynb"):
        assert _normalized(notebooks / name) == _normalized(NOTEBOOKS_DIR / name)


def _code_text(path):
    notebook = json.loads(Path(path).read_text())
    return notebook, "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")


def _secret_lines(code):
    """Lines of ``code`` inside ``### BEGIN SOLUTION`` / ``### BEGIN HIDDEN TESTS`` blocks (stripped,
    20 characters or more) that appear nowhere outside them."""
    inside, secret, public = False, set(), set()
    for line in code.splitlines():
        text = line.strip()
        if text.startswith(("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")):
            inside = True
        elif text.startswith(("### END SOLUTION", "### END HIDDEN TESTS")):
            inside = False
        else:
            (secret if inside else public).add(text)
    return {text for text in secret - public if len(text) >= 20}


def test_student_notebook_has_no_solution_no_hidden_tests_no_outputs():
    notebook, code = _code_text(STUDENT)
    _, source = _code_text(SOLUTIONS_DIR / STUDENT.name)
    # What must not leak is in the source: without these, the checks below could not fail.
    secrets = _secret_lines(source)
    assert len(secrets) >= 5, secrets
    for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "show_cam_reference", "from grader"):
        assert marker in source, marker
        assert marker not in code, marker
    assert [line for line in secrets if line in code] == []
    assert code.count("raise NotImplementedError()") == 2
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_solution_notebook_holds_the_answers_and_is_executed():
    notebook, code = _code_text(SOLUTIONS_DIR / "01_mnist_cam.ipynb")
    assert "### BEGIN SOLUTION" in code and "### BEGIN HIDDEN TESTS" in code
    executed = [c for c in notebook["cells"] if c["cell_type"] == "code" and c["execution_count"]]
    assert len(executed) == sum(c["cell_type"] == "code" for c in notebook["cells"])
    errors = [o for c in notebook["cells"] if c["cell_type"] == "code"
              for o in c["outputs"] if o["output_type"] == "error"]
    assert errors == []


def test_graded_cells_carry_points_and_docstrings():
    notebook, _ = _code_text(SOLUTIONS_DIR / "01_mnist_cam.ipynb")
    tests = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    assert [c["metadata"]["nbgrader"]["points"] for c in tests] == [1, 2, 2]
    assert all("".join(c["source"]).startswith("'''") for c in tests)
    assert len({c["metadata"]["nbgrader"]["grade_id"] for c in tests}) == len(tests)


def test_no_student_notebook_carries_outputs_or_saved_widget_state():
    solutions = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
    # 06's explorer panel saves its widgets' state, pictures included, in the solution's metadata.
    assert any("widgets" in json.loads(path.read_text())["metadata"] for path in solutions)
    for path in solutions:
        notebook = json.loads((NOTEBOOKS_DIR / path.name).read_text())
        assert "widgets" not in notebook["metadata"], path.name
        assert all(cell.get("outputs", []) == [] for cell in notebook["cells"]), path.name
