"""pyproject.toml and environment.yml must list the same packages with the same lower bounds."""

import re
import tomllib
from pathlib import Path

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
    assert "-m pytest" in result.stdout and "-m tools.run_all" in result.stdout
