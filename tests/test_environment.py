"""pyproject.toml and environment.yml must list the same packages with the same lower bounds."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _requirement(text):
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=\s*[0-9][0-9A-Za-z.]*)?", text)
    return match.group(1).lower().replace("_", "-"), (match.group(2) or "").replace(" ", "")


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entries = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_requirement(entry) for entry in entries)


def environment_requirements():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    entries = {}
    for line in lines[start + 1:]:
        item = line.split("#")[0].strip()
        if not item.startswith("- ") or item.startswith("- -e"):
            continue
        name, bound = _requirement(item[2:])
        entries[name] = bound
    return entries


def test_environment_yml_and_pyproject_list_the_same_packages_and_bounds():
    assert environment_requirements() == pyproject_requirements()


def test_every_environment_entry_says_why_it_is_there():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    for line in lines[start + 1:]:
        if line.strip().startswith("- "):
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"no reason given: {line.strip()}"


def test_full_tensorflow_not_the_cpu_only_build():
    requirements = pyproject_requirements()
    assert "tensorflow" in requirements and "tensorflow-cpu" not in requirements
    assert all(bound.startswith(">=") for bound in requirements.values())


def test_makefile_targets_parse():
    import subprocess

    result = subprocess.run(["make", "-n", "run", "test", "solutions", "release", "check-release", "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "-m tools.run_tests" in result.stdout and "-m tools.run_all" in result.stdout
    # make test: two pytest processes, the grading modules in one and the rest (minus those) in the other
    from tools.run_tests import GRADING_MODULES, commands

    (grading_name, grading), (others_name, others) = commands(["-x"])
    assert grading[1:3] == others[1:3] == ["-m", "pytest"] and grading[-1] == others[-1] == "-x"
    assert grading[3:3 + len(GRADING_MODULES)] == GRADING_MODULES and len(GRADING_MODULES) == 9
    assert all((ROOT / module).is_file() for module in GRADING_MODULES)
    assert [f"--ignore={module}" for module in GRADING_MODULES] == others[3:3 + len(GRADING_MODULES)]


# Pythons with a TensorFlow 2.21 wheel on PyPI (checked 2026-11 with `pip download tensorflow==2.21.0 --no-deps
# --only-binary=:all: --python-version 3.X`: 3.10 to 3.13 found, 3.14 only 2.22.0rc0), and the oldest Python
# the code runs on (grader/student/bundle.py and the tests import tomllib, new in 3.11).
TENSORFLOW_WHEEL_PYTHONS = {"3.10", "3.11", "3.12", "3.13"}
OLDEST_PYTHON_OF_THE_CODE = (3, 11)


def requires_python():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]


def admitted_pythons():
    from packaging.specifiers import SpecifierSet

    specifier = SpecifierSet(requires_python())
    return {f"3.{minor}" for minor in range(6, 20) if f"3.{minor}" in specifier}


def test_requires_python_is_what_the_code_and_tensorflow_support():
    supported = {version for version in TENSORFLOW_WHEEL_PYTHONS
                 if tuple(map(int, version.split("."))) >= OLDEST_PYTHON_OF_THE_CODE}
    assert admitted_pythons() == supported
    uses_tomllib = [path for path in ROOT.glob("[gt]*/*.py") if re.search(r"^import tomllib", path.read_text(), re.M)]
    assert uses_tomllib, "nothing imports tomllib any more: 3.10 may be admitted again"


def test_environment_yml_asks_for_the_same_pythons():
    from packaging.specifiers import SpecifierSet

    line = next(line for line in (ROOT / "environment.yml").read_text().splitlines()
                if line.strip().startswith("- python"))
    assert SpecifierSet(line.split("#")[0].strip()[len("- python"):]) == SpecifierSet(requires_python())


@pytest.fixture(scope="module")
def project_wheel(tmp_path_factory):
    """The project's wheel, built once from a copy of its sources (setuptools comes from the package index)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("helpers", "grader"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path_factory.mktemp("wheels")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                             str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return next(wheels.glob("*.whl"))


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.13", "3.14"])
def test_pip_itself_refuses_a_python_outside_requires_python(project_wheel, tmp_path, version):
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index",
                             "--ignore-installed", "--only-binary=:all:", "--python-version", version,
                             "--target", str(tmp_path / "target"), str(project_wheel)],
                            capture_output=True, text=True)
    if version in admitted_pythons():
        assert result.returncode == 0 and "Would install seeing-inside-cnns" in result.stdout, result.stderr
    else:
        assert result.returncode != 0 and "requires a different Python" in result.stderr, result.stdout
