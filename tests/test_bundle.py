import tomllib
import zipfile

from grader.bundle import bundle, check_bundle
from grader.course import REPO_ROOT


def test_bundle_holds_what_students_need_and_no_solution_text(tmp_path):
    out = tmp_path / "students.zip"
    assert bundle(out) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        text = "\n".join(archive.read(n).decode("utf-8", errors="ignore") for n in names)
        pyproject = tomllib.loads(archive.read("pyproject.toml").decode())
    assert "notebooks/01_mnist_cam.ipynb" in names and "helpers/data.py" in names
    assert {"README.md", "environment.yml", "pyproject.toml"} <= set(names)
    assert not [n for n in names if n.startswith(("solutions/", "grader/", "tests/")) or "reference" in n]
    assert pyproject["tool"]["setuptools"]["packages"] == ["helpers"]
    # Solution and hidden-test text of every graded notebook stays out.
    solution = (REPO_ROOT / "solutions" / "01_mnist_cam.ipynb").read_text()
    assert "scipy.ndimage.zoom(features_for_image" in solution
    for secret in ("scipy.ndimage.zoom(features_for_image", "BEGIN SOLUTION", "BEGIN HIDDEN TESTS",
                   "show_cam_reference", "def grad_cam(", "nbval", "tf-keras-vis"):
        assert secret not in text, secret


def test_check_bundle_catches_a_leak(tmp_path):
    leaky = tmp_path / "leaky.zip"
    with zipfile.ZipFile(leaky, "w") as archive:
        archive.writestr("notebooks/01_mnist_cam.ipynb", "### BEGIN SOLUTION\n")
        archive.writestr("grader/reference.py", "")
    problems = check_bundle(leaky)
    assert len(problems) == 2 and "instructor file" in problems[1]
