"""``python -m grader bundle OUT.zip``: what students receive, and nothing else.

The bundle holds the student notebooks, the ``helpers`` library, ``data/`` (when the course
has one), an ``environment.yml`` and a ``pyproject.toml`` that install the helpers only, a
README for students, and ``jupyter-config/``: the student's Jupyter settings, which
``pip install .`` copies into the environment (``<env>/etc/jupyter``; an editable install,
``pip install -e .``, would not: setuptools skips data files there). They switch off
nbgrader's instructor tools in JupyterLab (Formgrader, Course List, Assignment List, Create
Assignment) and keep its Validate button, stop JupyterLab's "official Jupyter news" prompt
(``<env>/share/jupyter/lab/settings/overrides.json``), and give nbgrader a configuration so it
stops warning "No nbgrader_config.py file found". The bundle never holds ``solutions/``,
``grader/`` (and so ``grader/reference.py``), ``tests/`` or anything else from the
instructor's side; :func:`check_bundle` proves it.
"""

import json
import re
import tomllib
import zipfile
from pathlib import Path

from grader.course import NOTEBOOKS_DIR, REPO_ROOT, SOLUTIONS_DIR, graded_assignments
from grader.errors import DONE, INCOMPLETE

# Measured 2026-11 on Linux x86_64, Python 3.11, 2 cores shared with other jobs, a fast connection:
# `python3 -m venv .venv && .venv/bin/pip install --no-cache-dir -e .` of the bundle downloaded 146
# wheels, 829 MB (TensorFlow 572 MB), took 249 s, and `du -sh .venv` gave 2.9 GB.
DOWNLOAD_SIZE = "about 830 MB"
INSTALLED_SIZE = "about 3 GB"
INSTALL_TIME = "about 4 minutes on a fast connection (longer on a slow one)"

_STUDENT_README_TEMPLATE = f"""# Seeing inside CNNs: student bundle

Six notebooks on looking inside convolutional networks with Keras 3 (Class Activation Maps,
saliency, Grad-CAM, deconvnet, activation maximization, and whether to trust a map). They run
offline on a CPU.

## Install (once)

You need **Python 3.11, 3.12 or 3.13**, 64-bit, on Linux, macOS or Windows
(`python3 --version`; on Windows `py --version`). The course needs 3.11 or newer, and
TensorFlow publishes no package for 3.14 yet: `pip` refuses to install on other versions.
The install downloads {DOWNLOAD_SIZE} (TensorFlow is most of it), takes {INSTALLED_SIZE} of
disk and {INSTALL_TIME}.

With pip, in this folder (the one holding `pyproject.toml`):

```bash
python3 -m venv .venv               # Windows: py -3.12 -m venv .venv
source .venv/bin/activate           # Linux and macOS
pip install .
```

On Windows, activate with `.venv\\Scripts\\activate.bat` in cmd or `.venv\\Scripts\\Activate.ps1`
in PowerShell, then `pip install .` as above.

Or with conda: `conda env create -f environment.yml`, then `conda activate seeing-inside-cnns`.

## Work

Each time, activate the environment (the `activate` line above, or `conda activate
seeing-inside-cnns`), then, in this folder:

```bash
jupyter lab notebooks/
```

Run each notebook top to bottom (Run > Run All Cells) and fill in the cells marked
`# YOUR CODE HERE` (delete the `raise NotImplementedError()` line below it); Run All stops at
the first cell that fails, such as an exercise not done yet. The data and the
weights come from installed packages; without a network a notebook still works. To skip the
few seconds it spends checking for one, set `COURSE_OFFLINE=1` before starting JupyterLab
(`export COURSE_OFFLINE=1` on Linux and macOS, `set COURSE_OFFLINE=1` in cmd,
`$env:COURSE_OFFLINE = "1"` in PowerShell).

## Graded notebooks

| notebook | exercise | points |
|---|---|---|
{{graded_rows}}

{{ungraded_sentence}}Each exercise is followed by a self-check cell and
visible tests; hidden tests used for grading check more cases.

## Check before you hand in

Save the notebook, then press the **Validate** button in the notebook's toolbar, or run

```bash
nbgrader validate notebooks/01_mnist_cam.ipynb
```

It runs the whole notebook (about a minute) and prints `Success! Your notebook passes all the
tests.` when every visible test passes. When a test fails it prints `VALIDATION FAILED ON ...
CELL(S)!` and the failing cell's error, **but its exit code is still 0**: read what it prints,
do not rely on the exit code. Validate checks the graded test cells only: a self-check cell
that fails does not make it fail, so run each self-check cell yourself and make sure it prints
`Self-check passed.`

## Hand in

Hand in the graded notebooks themselves, saved, with their file names unchanged:
{{hand_in_names}} (not a copy such as
`01_mnist_cam-Copy1.ipynb`, not an export). Your instructor says where to upload them.
Do not change the test cells: they are restored from the original when your work is graded.
"""

# "## Exercise: [what it is, ]`function` [and `function`] (N points)": the functions and the points.
EXERCISE_HEADING = re.compile(r"^## Exercise: (?:[^`\n]*, )?(`.+?`) \((\d+) points\)", re.M)


def graded_exercises(solutions_dir: Path = SOLUTIONS_DIR) -> list[tuple[str, str, int]]:
    """``(notebook, exercise, points)`` of every graded notebook, in order, from the heading of its
    exercise in the solution notebook: "## Exercise: `show_cam` (5 points)" gives
    ``("01_mnist_cam", "`show_cam`", 5)``."""
    exercises = []
    for name in graded_assignments(solutions_dir):
        cells = json.loads((Path(solutions_dir) / f"{name}.ipynb").read_text())["cells"]
        text = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
        exercises += [(name, exercise, int(points)) for exercise, points in EXERCISE_HEADING.findall(text)]
    return exercises


def student_readme(solutions_dir: Path = SOLUTIONS_DIR) -> str:
    """The bundle's README.md: its table of graded notebooks from :func:`graded_exercises`."""
    exercises = graded_exercises(solutions_dir)
    graded = list(dict.fromkeys(name for name, _, _ in exercises))
    ungraded = [f"`{path.name}`" for path in sorted(NOTEBOOKS_DIR.glob("*.ipynb")) if path.stem not in graded]
    names = [f"`{name}.ipynb`" for name in graded]
    return _STUDENT_README_TEMPLATE.format(
        graded_rows="\n".join(f"| `notebooks/{name}.ipynb` | {exercise} | {points} |"
                               for name, exercise, points in exercises),
        ungraded_sentence=f"Not graded: {_listed(ungraded)}.\n" if ungraded else "",
        hand_in_names=_listed(names))


def _listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


FORBIDDEN_TEXT = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "grader.reference", "show_cam_reference")

# nbgrader's JupyterLab plugins and server extensions a student has no use for: the instructor's
# tools, and the exchange-based assignment and course lists (this course hands in files directly).
# The Validate button (@jupyter/nbgrader:validate-assignment and its server extension) stays.
DISABLED_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                        "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list",
                        "@jupyter/nbgrader:menu")
DISABLED_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list",
                              "nbgrader.server_extensions.assignment_list")

NEWS_PLUGIN = "@jupyterlab/apputils-extension:notification"   # JupyterLab 4's news and update checks

# Dependencies only the instructor's side imports (grader/): left out of the student's pyproject and environment.
INSTRUCTOR_ONLY_PACKAGES = ("psutil",)

STUDENT_NBGRADER_CONFIG = """# nbgrader's configuration for students: `nbgrader validate` and the Validate button
# read it from <environment>/etc/jupyter (pip install . puts it there).
c = get_config()  # noqa: F821  (defined by nbgrader when it loads this file)

# A notebook cell may run as long as it does when the notebook is graded.
c.Execute.timeout = 600
c.Execute.iopub_timeout = 60
# The kernel's own log lines stay out of validate's output, down to errors: ipykernel 7 warns that
# it "is running over TCP without encryption" at every start (the kernel talks only to this computer).
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
"""

# {path in the bundle: (folder under the environment's prefix, file content)}
JUPYTER_CONFIG_FILES = {
    "jupyter-config/labconfig/page_config.json": (
        "etc/jupyter/labconfig",
        json.dumps({"disabledExtensions": {name: True for name in DISABLED_LAB_PLUGINS}}, indent=2) + "\n"),
    # Read after nbgrader's own nbgrader.json in the same folder (alphabetical order), so it wins.
    "jupyter-config/jupyter_server_config.d/seeing_inside_cnns.json": (
        "etc/jupyter/jupyter_server_config.d",
        json.dumps({"ServerApp": {"jpserver_extensions": {name: False for name in DISABLED_SERVER_EXTENSIONS}}},
                   indent=2) + "\n"),
    "jupyter-config/nbgrader_config.py": ("etc/jupyter", STUDENT_NBGRADER_CONFIG),
    # JupyterLab's defaults for every user of the environment: no "Would you like to get notified
    # about official Jupyter news?" prompt over the outputs, and no request to a website for it.
    "jupyter-config/lab-settings/overrides.json": (
        "share/jupyter/lab/settings",
        json.dumps({NEWS_PLUGIN: {"fetchNews": "false", "checkForUpdates": False}}, indent=2) + "\n"),
}


# The packages a student installs, and where their files come from in the bundle: ``pip install .``
# copies data/photos into the installed helpers package as helpers/photos, where
# helpers.images.sample_photo looks for them (an editable install finds data/photos beside helpers).
STUDENT_PACKAGES = ("helpers", "helpers.photos")
PACKAGE_DIRS = {"helpers.photos": "data/photos"}
PACKAGE_DATA = {"helpers.photos": ("*.png", "README.md")}


def _student_pyproject():
    """The repository's pyproject.toml for students: the helpers package with the course's photos
    (:data:`STUDENT_PACKAGES`), no dev tools, no instructor comments, and the Jupyter settings of
    :data:`JUPYTER_CONFIG_FILES` as data files."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    # The repository's packages (found by setuptools: helpers, grader and its sub-packages) become the
    # students' explicit list; the instructors' tool settings (ruff) go.
    packages = f"[tool.setuptools]\npackages = {json.dumps(list(STUDENT_PACKAGES))}\n"
    text = re.sub(r"^\[tool\.setuptools\.packages\.find\]\n(?:[^\[\n].*\n)*", packages, text, flags=re.M)
    text = re.sub(r"^\[tool\.ruff[^\]]*\]\n(?:[^\[\n].*\n|\n)*", "", text, flags=re.M)
    text = re.sub(r"\[project\.optional-dependencies\].*?(?=\n\[)", "", text, flags=re.S)
    text = re.sub(r"\[tool\.pytest\.ini_options\].*", "", text, flags=re.S)
    for package in INSTRUCTOR_ONLY_PACKAGES:
        text = re.sub(rf'^\s*"{re.escape(package)}\b[^"]*",\n', "", text, flags=re.M | re.I)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
    folders = {}
    for name, (folder, _) in JUPYTER_CONFIG_FILES.items():
        folders.setdefault(folder, []).append(name)
    text += "\n# The course's photos (data/photos/) installed inside the helpers package as helpers/photos/.\n"
    text += "[tool.setuptools.package-dir]\n"
    text += "".join(f"{json.dumps(package)} = {json.dumps(folder)}\n" for package, folder in PACKAGE_DIRS.items())
    text += "\n[tool.setuptools.package-data]\n"
    text += "".join(f"{json.dumps(package)} = {json.dumps(list(files))}\n" for package, files in PACKAGE_DATA.items())
    text += "\n# JupyterLab settings for students (see README.md), installed into the environment.\n"
    text += "[tool.setuptools.data-files]\n"
    text += "".join(f"{json.dumps(folder)} = {json.dumps(names)}\n" for folder, names in folders.items())
    tomllib.loads(text)  # still valid TOML
    return text


def _student_environment():
    """environment.yml without the dev tools and with comments that make sense to a student."""
    replacements = {
        "# The same packages and lower bounds as pyproject.toml (tests/test_environment.py checks it).":
            "# The same packages as pyproject.toml.",
        "releases student notebooks and autogrades submissions": "the Validate button and `nbgrader validate`",
        "this repository's helpers and grader packages": "the course's helpers package and Jupyter settings",
        # Not editable: setuptools installs data files (the Jupyter settings) only into a real install.
        "- -e .   ": "- .      ",
    }
    lines = []
    for line in (REPO_ROOT / "environment.yml").read_text().splitlines():
        if "# dev:" in line or any(re.match(rf"\s*- {re.escape(package)}\b", line, re.I)
                                   for package in INSTRUCTOR_ONLY_PACKAGES):
            continue
        for old, new in replacements.items():
            line = line.replace(old, new)
        lines.append(line)
    return "\n".join(lines) + "\n"


def bundle_files() -> dict[str, bytes]:
    """``{name in the zip: bytes}`` of everything a student receives."""
    files = {"README.md": student_readme().encode(), "pyproject.toml": _student_pyproject().encode(),
             "environment.yml": _student_environment().encode()}
    files.update({name: content.encode() for name, (_, content) in JUPYTER_CONFIG_FILES.items()})
    for folder in (NOTEBOOKS_DIR, REPO_ROOT / "helpers", REPO_ROOT / "data"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
                files[str(path.relative_to(REPO_ROOT))] = path.read_bytes()
    return files


def check_bundle(zip_path: str | Path) -> list[str]:
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


def bundle(out_path: str | Path) -> int:
    """Write the student bundle to ``out_path``; return :data:`~grader.errors.DONE`, or
    :data:`~grader.errors.INCOMPLETE` when its check finds an instructor file or solution text (the
    zip is then removed)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    files = bundle_files()
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    problems = check_bundle(out_path)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        out_path.unlink()
        return INCOMPLETE
    print(f"student bundle: {out_path} ({len(files)} files)")
    return DONE
