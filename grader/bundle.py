"""``python -m grader bundle OUT.zip``: what students receive, and nothing else.

The bundle holds the student notebooks, the ``helpers`` library, ``data/``, an
``environment.yml`` and a ``pyproject.toml`` that install the helpers only, and a README
for students. It never holds ``solutions/``, ``grader/`` (and so ``grader/reference.py``)
or anything else from the instructor's side; :func:`check_bundle` proves it.
"""

import re
import tomllib
import zipfile
from pathlib import Path

from grader.course import NOTEBOOKS_DIR, REPO_ROOT

STUDENT_README = """# Seeing inside CNNs: student bundle

```bash
conda env create -f environment.yml && conda activate seeing-inside-cnns
# or: python3 -m venv .venv && source .venv/bin/activate && pip install -e .
jupyter lab notebooks/
```

Run each notebook top to bottom and fill in the cells marked `# YOUR CODE HERE`.
Before you hand in, run the visible tests: `nbgrader validate notebooks/01_mnist_cam.ipynb`.
Everything works offline: data and weights come from installed packages.
"""

FORBIDDEN_TEXT = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "grader.reference", "show_cam_reference")


def _student_pyproject():
    """The repository's pyproject.toml, reduced to the helpers package and without dev tools."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    text = text.replace('packages = ["helpers", "grader"]', 'packages = ["helpers"]')
    text = re.sub(r"\[project\.optional-dependencies\].*?(?=\n\[)", "", text, flags=re.S)
    text = re.sub(r"\[tool\.pytest\.ini_options\].*", "", text, flags=re.S)
    tomllib.loads(text)  # still valid TOML
    return text


def _student_environment():
    lines = (REPO_ROOT / "environment.yml").read_text().splitlines()
    return "\n".join(line for line in lines if "# dev:" not in line) + "\n"


def bundle_files():
    """``{name in the zip: bytes}`` of everything a student receives."""
    files = {"README.md": STUDENT_README.encode(), "pyproject.toml": _student_pyproject().encode(),
             "environment.yml": _student_environment().encode()}
    for folder in (NOTEBOOKS_DIR, REPO_ROOT / "helpers", REPO_ROOT / "data"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
                files[str(path.relative_to(REPO_ROOT))] = path.read_bytes()
    return files


def check_bundle(zip_path):
    """Return the problems found in a bundle: instructor files or solution text inside."""
    problems = []
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if name.startswith(("solutions/", "grader/", "tests/")) or name.endswith("reference.py"):
                problems.append(f"{name}: an instructor file")
                continue
            text = archive.read(name).decode("utf-8", errors="ignore")
            problems += [f"{name}: contains {marker!r}" for marker in FORBIDDEN_TEXT if marker in text]
    return problems


def bundle(out_path):
    """Write the student bundle to ``out_path``; return the exit code (1 if the check fails)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in bundle_files().items():
            archive.writestr(name, content)
    problems = check_bundle(out_path)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        out_path.unlink()
        return 1
    print(f"student bundle: {out_path} ({len(bundle_files())} files)")
    return 0
