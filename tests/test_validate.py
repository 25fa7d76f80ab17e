"""python -m grader validate: a student's self-check exits non-zero while a visible test fails."""

import subprocess
import sys

from grader.course import NOTEBOOKS_DIR, REPO_ROOT


def test_untouched_student_notebook_fails_validation(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grader", "validate", str(NOTEBOOKS_DIR / "01_mnist_cam.ipynb")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "a test failed" in result.stdout and "NotImplementedError" in result.stdout


def test_missing_notebook_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grader", "validate", str(tmp_path / "nope.ipynb")],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "does not exist" in result.stdout
