"""Independent checks: the student's functions, run on inputs the grader draws for this run,
judged against the references in the grader's own clean process.

nbgrader's tests run inside the student's kernel, where a submission can redefine
``numpy.allclose``, return objects whose ``==`` is always true, swallow exceptions or switch
off tracebacks. So, after the notebook has run, the grader appends one *capture* cell: it
replaces the globals the exercise reads with freshly drawn random inputs (a fixture written
for this run only), calls the student's function on each case and saves plain float arrays.
The grader then compares them with the exercise's reference outside the kernel. A test's final
points are the lower of nbgrader's result and this check's, so a trick that fools the
in-kernel test gains nothing.

One module per exercise (``mnist_cam`` for 01, ``cats_dogs_gradcam`` for 03) holds its
reference implementation, its fixture and its judge, and declares ``ASSIGNMENT`` (the solution
notebook's name) and ``CHECK`` (a :class:`~grader.checks.capture.Check`). Every module of this
package that declares both is found when the package is imported (:data:`CHECKS`): adding an
exercise adds a module and edits no list. A module may also declare ``REFERENCES``, the reference
functions its hidden tests call through :mod:`grader.reference` (name -> how many values of each
answer the sandbox's recorded table keeps, None for all): :data:`REFERENCES` collects them, and
:mod:`grader.reference` takes them from there. A notebook without a check is scored by nbgrader's
tests alone. :mod:`grader.checks.capture` is the generic part: the capture cell and the reading
of its file. Trust: these modules run in the grader's process, never in a student's kernel.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

from grader.checks.capture import Check, capture_cell_source, capture_limits, read_capture

__all__ = ["CHECKS", "REFERENCES", "Check", "capture_cell_source", "capture_limits", "judge", "read_capture",
           "write_fixture"]


def _exercise_modules(package: str = __name__, path: list[str] = __path__) -> list[ModuleType]:
    """Every module of ``package`` (found in ``path``) that declares ``ASSIGNMENT``, in name order."""
    modules = [importlib.import_module(f"{package}.{info.name}") for info in pkgutil.iter_modules(path)]
    return [module for module in modules if getattr(module, "ASSIGNMENT", None) is not None]


def _find_checks(package: str = __name__, path: list[str] = __path__) -> dict[str, Check]:
    """``{assignment: Check}`` of every module of ``package`` (found in ``path``) that declares
    ``ASSIGNMENT``; each must declare its ``CHECK`` too, and no two the same assignment."""
    found = {}
    for module in _exercise_modules(package, path):
        assignment = module.ASSIGNMENT
        if not isinstance(getattr(module, "CHECK", None), Check):
            raise RuntimeError(f"{module.__name__} declares ASSIGNMENT = {assignment!r} but no CHECK (a Check)")
        if assignment in found:
            raise RuntimeError(f"two modules of {package} declare the check of {assignment}")
        found[assignment] = module.CHECK
    return dict(sorted(found.items()))


def _find_references(package: str = __name__, path: list[str] = __path__) -> dict[str, tuple[Callable, int | None]]:
    """``{name: (function, revealed)}`` from the ``REFERENCES`` of every exercise module; a name
    declared by two modules is refused (the hidden tests call it by that name alone)."""
    found = {}
    for module in _exercise_modules(package, path):
        for name, revealed in getattr(module, "REFERENCES", {}).items():
            if name in found:
                raise RuntimeError(f"two modules of {package} declare the reference {name!r}")
            found[name] = (getattr(module, name), revealed)
    return found


# The check of each assignment that has one, e.g. CHECKS["01_mnist_cam"].
CHECKS = _find_checks()
# The reference functions hidden tests call through grader.reference, e.g. REFERENCES["grad_cam"].
REFERENCES = _find_references()


def write_fixture(assignment: str, path: Path | str, seed: int | None = None) -> dict[str, np.ndarray]:
    """Draw this run's inputs for ``assignment``, save them to ``path`` (.npz) and return them."""
    rng = np.random.default_rng(seed)
    fixture = CHECKS[assignment].make_fixture(rng)
    np.savez(path, **fixture)
    return fixture


def judge(assignment: str, fixture: dict[str, np.ndarray] | Path | str, output_path: Path | str) -> dict[str, float]:
    """``{grade_id: fraction of points}`` from the saved outputs; all zero when they are missing.

    ``fixture`` is the dict :func:`write_fixture` returned (the grader keeps it in memory, so a
    kernel that rewrites the file on disk changes nothing) or the path of the saved file. The
    capture file is read by :func:`~grader.checks.capture.read_capture`, within the bounds the
    fixture sets.
    """
    fixture = fixture if isinstance(fixture, dict) else dict(np.load(fixture))
    check = CHECKS[assignment]
    return check.judge(fixture, read_capture(output_path, *capture_limits(check, fixture)))
