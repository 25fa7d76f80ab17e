"""``python -m grader release [--check]``: regenerate ``notebooks/`` from ``solutions/``."""

import json
import shutil
import tempfile
from pathlib import Path

from grader.course import NOTEBOOKS_DIR, SOLUTIONS_DIR, assignment_names, prepare_course
from grader.errors import DONE, INCOMPLETE


def _normalized(path):
    """The notebook at ``path`` as a canonical JSON string (key order and indentation fixed)."""
    return json.dumps(json.loads(Path(path).read_text()), sort_keys=True, indent=1)


def generate_student_notebooks(output_dir: str | Path, solutions_dir: str | Path = SOLUTIONS_DIR) -> list[str]:
    """Run nbgrader's generate_assignment on every solution; write the student notebooks
    (outputs cleared, solutions stubbed, hidden tests removed) into ``output_dir``.

    The saved state of the solution's widgets (notebook metadata ``widgets``, which holds the
    pictures an executed panel drew) goes too: it is output, not lesson."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    assignments = assignment_names(solutions_dir)
    with tempfile.TemporaryDirectory(prefix="grader-release-") as course_dir:
        prepare_course(course_dir, assignments, solutions_dir)
        for assignment in assignments:
            released = Path(course_dir) / "release" / assignment / f"{assignment}.ipynb"
            notebook = json.loads(released.read_text())
            notebook["metadata"].pop("widgets", None)
            text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
            (output_dir / f"{assignment}.ipynb").write_text(text)
    return assignments


def release(check: bool = False, notebooks_dir: str | Path = NOTEBOOKS_DIR,
            solutions_dir: str | Path = SOLUTIONS_DIR) -> int:
    """Regenerate the student notebooks, or with ``check`` report the stale ones.

    Returns :data:`~grader.errors.DONE` (0), or :data:`~grader.errors.INCOMPLETE` (1) when ``check``
    finds stale or missing notebooks.
    """
    notebooks_dir = Path(notebooks_dir)
    with tempfile.TemporaryDirectory(prefix="grader-fresh-") as fresh_dir:
        assignments = generate_student_notebooks(fresh_dir, solutions_dir)
        stale = []
        for assignment in assignments:
            fresh = Path(fresh_dir) / f"{assignment}.ipynb"
            current = notebooks_dir / f"{assignment}.ipynb"
            if not current.exists() or _normalized(current) != _normalized(fresh):
                stale.append(assignment)
                if not check:
                    notebooks_dir.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(fresh, current)
        extra = sorted(p.stem for p in notebooks_dir.glob("*.ipynb") if p.stem not in assignments)
    if check:
        if stale or extra:
            for name in stale:
                print(f"stale: notebooks/{name}.ipynb differs from what solutions/{name}.ipynb generates")
            for name in extra:
                print(f"orphan: notebooks/{name}.ipynb has no solutions/{name}.ipynb")
            print("Run 'python -m grader release' to regenerate the student notebooks.")
            return INCOMPLETE
        print(f"notebooks/ is up to date ({len(assignments)} notebooks)")
        return DONE
    for name in extra:
        print(f"note: notebooks/{name}.ipynb has no solution notebook; left as it is")
    print(f"released {len(assignments)} notebooks ({len(stale)} changed) into {notebooks_dir}")
    return DONE
