import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from grader.course import REPO_ROOT
from grader.student.bundle import (
    DISABLED_LAB_PLUGINS,
    DISABLED_SERVER_EXTENSIONS,
    INSTRUCTOR_ONLY_PACKAGES,
    JUPYTER_CONFIG_FILES,
    NEWS_PLUGIN,
    bundle,
    check_bundle,
    student_readme,
)

GRADED = {"01_mnist_cam": "`show_cam`", "02_imagenet_saliency": "`saliency_map`", "03_cats_dogs_gradcam": "`get_CAM`",
          "04_zfnet_unpooling": "`max_pool_with_switches` and `unpool`",
          "05_filter_maximization": "`ascent_update` and `gradient_ascent_step`"}


@pytest.fixture(scope="module")
def student_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "students.zip"
    assert bundle(out) == 0
    with zipfile.ZipFile(out) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _between(text, begin, end):
    return [block for chunk in text.split(begin)[1:] for block in [chunk.split(end, 1)[0]]]


def secret_lines():
    """Every code line of the graded solutions and hidden tests, read from the sources themselves."""
    lines, visible = set(), set()
    for name in GRADED:
        cells = json.loads((REPO_ROOT / "solutions" / f"{name}.ipynb").read_text())["cells"]
        for cell in cells:
            source = "".join(cell["source"])
            for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                               ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
                for block in _between(source, begin, end):
                    lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 30}
                    source = source.replace(block, "")
            visible |= {line.strip() for line in source.splitlines()}
    # A line that also stands in a visible cell (the student sees it anyway) is no secret.
    return lines - visible


def test_bundle_holds_what_students_need_and_no_solution_text(student_zip):
    names = set(student_zip)
    text = "\n".join(content.decode("utf-8", errors="ignore") for content in student_zip.values())
    pyproject = tomllib.loads(student_zip["pyproject.toml"].decode())
    assert {"notebooks/01_mnist_cam.ipynb", "notebooks/03_cats_dogs_gradcam.ipynb", "helpers/data.py"} <= names
    assert {"README.md", "environment.yml", "pyproject.toml"} <= names
    assert not [n for n in names if n.startswith(("solutions/", "grader/", "tests/")) or "reference" in n]
    # The helpers package, and the course's photos installed inside it (helpers/photos, from data/photos).
    assert pyproject["tool"]["setuptools"]["packages"] == ["helpers", "helpers.photos"]
    assert pyproject["tool"]["setuptools"]["package-dir"] == {"helpers.photos": "data/photos"}
    # The instructor-only packages are left out, and no student module imports them.
    student_requirements = " ".join(pyproject["project"]["dependencies"]) + student_zip["environment.yml"].decode()
    for package in INSTRUCTOR_ONLY_PACKAGES:
        assert package in (REPO_ROOT / "pyproject.toml").read_text() and package not in student_requirements
        assert not [name for name in names if name.endswith(".py") and re.search(
            rf"^\s*(import|from) {package}\b", student_zip[name].decode(), re.M)], package
    # The solutions' and hidden tests' code lines (read from the sources, so there are some) stay out.
    secrets = secret_lines()
    assert len(secrets) >= 10 and any("scipy.ndimage.zoom" in line for line in secrets)
    leaked = sorted(line for line in secrets if line in text)
    assert not leaked, leaked
    # So do the instructor's tools named in the repository's own pyproject.toml.
    repository_pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    for tool in ("nbval", "playwright"):
        assert tool in repository_pyproject and tool not in text, tool


def test_check_bundle_catches_a_leak(tmp_path):
    leaky = tmp_path / "leaky.zip"
    with zipfile.ZipFile(leaky, "w") as archive:
        archive.writestr("notebooks/01_mnist_cam.ipynb", "### BEGIN SOLUTION\n")
        archive.writestr("grader/reference.py", "")
    problems = check_bundle(leaky)
    assert len(problems) == 2 and "instructor file" in problems[1]


# Names of what the bundle does not ship: the instructor's folders, commands and tools.
NOT_SHIPPED = {
    "tests/": r"\btests/|\btest_\w+\.py",
    "grader": r"(?<![\w-])grader\b",  # not nbgrader
    "solutions/": r"\bsolutions/",
    "make": r"\bmake (?:run|test|solutions|release|check-release|benchmarks|clean)\b|\bMakefile\b",
    "tools/, benchmarks/, .ci/": r"\btools/|\bbenchmarks/|\.ci/",
}


def student_texts(files):
    """``{name: text a student reads}``: cell sources of notebooks (not nbgrader's metadata), whole text files."""
    texts = {}
    for name, content in files.items():
        if name.endswith(".ipynb"):
            cells = json.loads(content)["cells"]
            texts[name] = "\n".join("".join(cell["source"]) for cell in cells)
        elif name.endswith((".py", ".md", ".toml", ".yml", ".json", ".txt")):
            texts[name] = content.decode()
    return texts


def references_to_unshipped_files(files):
    found = []
    shipped_folders = {name.split("/", 1)[0] + "/" for name in files if "/" in name}
    patterns = dict(NOT_SHIPPED)
    if "data/" not in shipped_folders:
        patterns["data/"] = r"(?<![\w.])data/"
    for name, text in student_texts(files).items():
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{name}:{number}: {what}: {line.strip()[:120]}"
                      for what, pattern in patterns.items() if re.search(pattern, line)]
    return found


def test_nothing_in_a_student_file_refers_to_files_the_bundle_does_not_ship(student_zip):
    assert references_to_unshipped_files(student_zip) == []


def test_the_reference_check_finds_what_it_looks_for():
    files = {"helpers/a.py": b"# tests/test_a.py checks this\n# the grader's sandbox\n# run `make test`\n",
             "notebooks/n.ipynb": json.dumps({"cells": [{"source": ["see solutions/01.ipynb"]}],
                                              "metadata": {"nbgrader": {}}}).encode(),
             "README.md": b"nbgrader validate; make the map; tests pass; load data/x.npz\n"}
    found = references_to_unshipped_files(files)
    assert [line.split(": ")[1] for line in found] == ["tests/", "grader", "make", "solutions/", "data/"], found


def test_student_jupyter_settings_hide_the_instructor_tools_and_keep_validate(student_zip):
    """The settings name nbgrader's real plugin and extension ids, and the bundle installs them."""
    labextension = Path(sys.prefix) / "share/jupyter/labextensions/@jupyter/nbgrader"
    plugin_ids = set()
    for script in labextension.glob("static/*.js"):
        plugin_ids |= set(re.findall(r'"(@jupyter/nbgrader:[\w-]+)"', script.read_text(errors="ignore")))
    assert "@jupyter/nbgrader:validate-assignment" in plugin_ids and "@jupyter/nbgrader:formgrader" in plugin_ids
    assert set(DISABLED_LAB_PLUGINS) <= plugin_ids
    assert plugin_ids - set(DISABLED_LAB_PLUGINS) == {"@jupyter/nbgrader:validate-assignment"}

    nbgrader_server_config = json.loads(
        (Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/nbgrader.json").read_text())
    nbgrader_extensions = set(nbgrader_server_config["ServerApp"]["jpserver_extensions"])
    assert set(DISABLED_SERVER_EXTENSIONS) == nbgrader_extensions - {"nbgrader.server_extensions.validate_assignment"}

    page_config = json.loads(student_zip["jupyter-config/labconfig/page_config.json"])
    assert set(page_config["disabledExtensions"]) == set(DISABLED_LAB_PLUGINS)
    server_config_name = "jupyter-config/jupyter_server_config.d/seeing_inside_cnns.json"
    server_config = json.loads(student_zip[server_config_name])
    assert server_config["ServerApp"]["jpserver_extensions"] == {name: False for name in DISABLED_SERVER_EXTENSIONS}
    # Jupyter reads a folder's config.d files in name order: ours comes after nbgrader's and wins.
    assert sorted(["nbgrader.json", server_config_name.rsplit("/", 1)[1]])[-1] != "nbgrader.json"

    # JupyterLab's own schema (the one this environment installs) has the settings the overrides set.
    schema = json.loads((Path(sys.prefix) / "share/jupyter/lab/schemas/@jupyterlab/apputils-extension"
                         / "notification.json").read_text())["properties"]
    overrides = json.loads(student_zip["jupyter-config/lab-settings/overrides.json"])[NEWS_PLUGIN]
    assert {"const": "false", "title": "Never"} in schema["fetchNews"]["oneOf"] and overrides["fetchNews"] == "false"
    assert schema["checkForUpdates"]["type"] == "boolean" and overrides["checkForUpdates"] is False

    # pip install . copies each file to <environment>/etc/jupyter/... (the overrides to share/jupyter/lab/settings)
    data_files = tomllib.loads(student_zip["pyproject.toml"].decode())["tool"]["setuptools"]["data-files"]
    installed = {name: folder for folder, names in data_files.items() for name in names}
    assert installed == {name: folder for name, (folder, _) in JUPYTER_CONFIG_FILES.items()}
    assert set(installed) <= set(student_zip)
    # ...but an editable install would not (setuptools skips data files there): the bundle says `pip install .`.
    readme, environment = student_zip["README.md"].decode(), student_zip["environment.yml"].decode()
    assert "pip install .\n" in readme and "install -e" not in readme
    assert re.search(r"^ +- \. +#", environment, re.M) and "- -e ." not in environment


def test_student_pyproject_and_environment_keep_the_python_range(student_zip):
    repository = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    student = tomllib.loads(student_zip["pyproject.toml"].decode())["project"]["requires-python"]
    assert student == repository
    python_line = next(line for line in student_zip["environment.yml"].decode().splitlines()
                       if line.strip().startswith("- python"))
    assert SpecifierSet(python_line.split("#")[0].strip()[len("- python"):]) == SpecifierSet(repository)


def _graded_points(name):
    cells = json.loads((REPO_ROOT / "solutions" / f"{name}.ipynb").read_text())["cells"]
    return sum(cell["metadata"].get("nbgrader", {}).get("points", 0) for cell in cells
               if cell["metadata"].get("nbgrader", {}).get("grade"))


def test_student_readme_says_what_a_student_needs(student_zip):
    readme = student_zip["README.md"].decode()
    assert readme == student_readme()
    # The Pythons that work, as pip will enforce them.
    specifier = SpecifierSet(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    admitted = [f"3.{minor}" for minor in range(8, 20) if f"3.{minor}" in specifier]
    assert f"Python {', '.join(admitted[:-1])} or {admitted[-1]}" in readme
    # Activation everywhere, the offline switch, validate's exit code, how to hand in.
    for needed in ("source .venv/bin/activate", ".venv\\Scripts\\activate.bat", ".venv\\Scripts\\Activate.ps1",
                   "conda activate seeing-inside-cnns",
                   "COURSE_OFFLINE=1", "nbgrader validate", "exit code is still 0", "file names unchanged",
                   "downloads about", "MB", "minutes"):
        assert needed in readme, needed
    # The graded notebooks, their exercise and their points, as the solutions' grade cells add up.
    for name, exercise in GRADED.items():
        row = f"| `notebooks/{name}.ipynb` | {exercise} | {_graded_points(name)} |"
        assert row in readme, row
    assert readme.count("| `notebooks/") == len(GRADED)


def test_bundle_ships_the_photos_with_their_attribution(student_zip):
    shipped = {name for name in student_zip if name.startswith("data/")}
    assert shipped == {"data/photos/README.md", "data/photos/both.png", "data/photos/dogs.png"}
    for name in shipped:
        assert student_zip[name] == (REPO_ROOT / name).read_bytes(), name
    assert "MIT License" in student_zip["data/photos/README.md"].decode()


def test_a_non_editable_install_of_the_bundle_finds_the_photos(student_zip, tmp_path):
    """`pip install .` (not -e) puts helpers into site-packages, away from data/: the wheel must carry
    the photos as helpers/photos/, and sample_photo must find them from any folder.
    The wheel is built as pip builds it for a student (setuptools comes from the package index)."""
    source, wheels, site_packages, elsewhere = (tmp_path / name for name in ("bundle", "wheels", "site", "elsewhere"))
    for name, content in student_zip.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                             str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(wheels.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name: archive.read(name) for name in archive.namelist() if name.startswith("helpers/photos/")}
    assert packaged == {f"helpers/photos/{name}": student_zip[f"data/photos/{name}"]
                        for name in ("README.md", "both.png", "dogs.png")}

    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                             "--target", str(site_packages), str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    elsewhere.mkdir()
    script = ("import helpers.images as i; print(i.__file__); print(i._course_photos_folder()); "
              "print(i.sample_photo('both').shape, i.sample_photo('dogs').shape)")
    result = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(site_packages), "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [str(site_packages / "helpers" / "images.py"),
                                          str(site_packages / "helpers" / "photos"), "(224, 224, 3) (224, 224, 3)"]
