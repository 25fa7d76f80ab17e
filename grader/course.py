"""Where things are, and how nbgrader is run for this course.

nbgrader wants ``{course}/source/{assignment}/{notebook}.ipynb``. This course keeps its
sources flat (``solutions/NN_name.ipynb``), so the grader builds an nbgrader course
working directory (default ``build/course``, outside the tracked tree) in which each
solution notebook is an assignment of its own: ``source/NN_name/NN_name.ipynb``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_COURSE_DIR = REPO_ROOT / "build" / "course"
CONFIG_TEMPLATE = Path(__file__).resolve().parent / "nbgrader_config.py"
COURSE_ID = "seeing-inside-cnns"


def assignment_names(solutions_dir: str | Path = SOLUTIONS_DIR) -> list[str]:
    """The assignments, one per solution notebook: ``["01_mnist_cam", ...]``."""
    return sorted(path.stem for path in Path(solutions_dir).glob("*.ipynb"))


def graded_assignments(solutions_dir: str | Path = SOLUTIONS_DIR) -> list[str]:
    """The assignments whose solution notebook has graded test cells (the others have nothing to grade)."""
    import nbformat

    def has_grades(name):
        notebook = nbformat.read(str(Path(solutions_dir) / f"{name}.ipynb"), as_version=4)
        return any(cell.metadata.get("nbgrader", {}).get("grade") for cell in notebook.cells)

    return [name for name in assignment_names(solutions_dir) if has_grades(name)]


# Arguments of a kernel started to run a whole notebook outside the grader (make run, make solutions):
# ipykernel 7 warns "Kernel is running over TCP without encryption" at every start, on the terminal;
# its own errors still show.
QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]


def nbgrader_environment() -> dict[str, str]:
    """The environment for nbgrader: the venv's ``bin`` first on PATH (nbgrader runs ``alembic``)."""
    environment = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    environment["PATH"] = bin_dir + os.pathsep + environment.get("PATH", "")
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


def gradebook_url(course_dir: str | Path) -> str:
    """SQLAlchemy URL of the course's gradebook; parallel graders wait up to 120 s for its lock."""
    return f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}?timeout=120"


def write_config(course_dir: str | Path, cell_timeout_seconds: float | None = None) -> None:
    """Write ``nbgrader_config.py`` into ``course_dir`` with its root set to that folder: the course's
    settings (``grader/nbgrader_config.py``), and ``cell_timeout_seconds`` as one cell's limit when
    given (autograde's private copy of the course, ``--cell-timeout``)."""
    course_dir = Path(course_dir)
    course_dir.mkdir(parents=True, exist_ok=True)
    text = CONFIG_TEMPLATE.read_text()
    root = course_dir.resolve()
    text += f"\nc.CourseDirectory.root = {str(root)!r}\n"
    # Parallel graders share the gradebook: wait for SQLite's lock instead of failing after 5 s.
    text += f"c.CourseDirectory.db_url = {gradebook_url(root)!r}\n"
    if cell_timeout_seconds is not None:
        text += f"c.Execute.timeout = {max(1, int(cell_timeout_seconds))}\n"
    (course_dir / "nbgrader_config.py").write_text(text)


def run_nbgrader(arguments: list[str], course_dir: str | Path, timeout_seconds: float | None = None,
                 memory_limit_bytes: int | None = None,
                 extra_environment: dict[str, str | None] | None = None) -> SimpleNamespace:
    """Run ``python -m nbgrader ARGUMENTS`` in ``course_dir`` (see :func:`grader.sandbox.processes.run_with_limits`).

    Output is captured; a run past ``timeout_seconds`` or ``memory_limit_bytes`` is killed
    with its kernels and reported with ``returncode = None``. ``extra_environment`` is added
    to nbgrader's environment (a value of None removes the variable).
    """
    from grader.sandbox.processes import run_with_limits

    command = [sys.executable, "-m", "nbgrader", *arguments]
    environment = {name: value for name, value in {**nbgrader_environment(), **(extra_environment or {})}.items()
                   if value is not None}
    return run_with_limits(command, cwd=course_dir, env=environment,
                           timeout_seconds=timeout_seconds, memory_limit_bytes=memory_limit_bytes)


def prepare_course(course_dir: str | Path, assignments: list[str], solutions_dir: str | Path = SOLUTIONS_DIR) -> Path:
    """Copy the solution notebooks into ``course_dir/source`` and generate each assignment.

    This also (re)creates the assignment's grade cells in the gradebook. Raises
    RuntimeError with nbgrader's last lines when generation fails.
    """
    course_dir = stage_course(course_dir, assignments, solutions_dir)
    for assignment in assignments:
        result = run_nbgrader(["generate_assignment", assignment, "--force"], course_dir, timeout_seconds=300)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader could not generate {assignment}:\n{tail(result.stdout, 15)}")
    return course_dir


def stage_course(course_dir: str | Path, assignments: list[str], solutions_dir: str | Path = SOLUTIONS_DIR) -> Path:
    """Write ``course_dir``'s ``nbgrader_config.py`` and copy the solution notebooks of ``assignments``
    into its ``source`` folder: what ``nbgrader generate_assignment`` reads. Returns ``course_dir``."""
    course_dir = Path(course_dir)
    write_config(course_dir)
    for assignment in assignments:
        source_folder = course_dir / "source" / assignment
        if source_folder.exists():
            shutil.rmtree(source_folder)
        source_folder.mkdir(parents=True)
        shutil.copy2(Path(solutions_dir) / f"{assignment}.ipynb", source_folder / f"{assignment}.ipynb")
    return course_dir


def tail(text: str, lines: int = 5) -> str:
    """The last ``lines`` non-empty lines of ``text``."""
    kept = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def drop_cells_after_last_test(cells: list) -> int:
    """Remove, in place, the cells after the last graded cell of a notebook's ``cells`` (dicts).

    They run after every test, so they cannot change a grade; the grader and the reference
    recording skip them. Returns how many were removed (0 when there is no graded cell).
    """
    graded = [i for i, cell in enumerate(cells) if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]
    if not graded:
        return 0
    removed = len(cells) - graded[-1] - 1
    del cells[graded[-1] + 1:]
    return removed
