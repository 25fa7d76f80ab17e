"""The results journal and the reports built from it: one :class:`Grade` per student and notebook.

Each result is saved in ``COURSE/results/<student_id>__<notebook>.json`` the moment it is known
(written atomically), keyed by the submission's and the source's content (:func:`result_key`),
so a rerun reuses it and a grader killed half-way loses nothing. ``grades.csv`` and the printed
table are rebuilt from the results at the end of every run.

``late`` says what the learning platform said: ``yes`` (Canvas marked the submission late, or
Moodle's grading worksheet did), ``no``, or empty when nobody said (a folder of submissions, a
Moodle download without its worksheet, results saved before the column existed). It never
changes a score.

``sandboxed`` says whether the result's kernel ran in the sandbox (:mod:`grader.sandbox`): ``yes``,
``no`` (``--isolate off``, or ``--isolate auto`` where the sandbox could not be built: the kernel
could read the reference and write wherever the grader's user can), or empty for a row no kernel
of this grader produced (a refused hand-in) and results saved before it was recorded. It is kept
per result because a class can be graded across several runs (shards, ``--student``, a late
download); the summary's last lines (:func:`sandbox_lines`), ``class.json`` and ``export`` say
so when a notebook was graded without it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader.intake.notebook_file import MAX_NOTEBOOK_BYTES
from helpers import write_atomically

if TYPE_CHECKING:
    from grader.config import GradingConfig
    from grader.intake.submissions import Submission

BASE_COLUMNS = ["student_id", "notebook", "score", "max_score", "status", "reason", "seconds", "late", "override",
                "sandboxed"]
LATE_TEXT = {True: "yes", False: "no", None: ""}
SANDBOXED_TEXT = LATE_TEXT   # the sandboxed column: yes, no, or empty when unknown
LISTED = 10   # notebooks named in a summary line, the rest counted


@dataclass
class Grade:
    """One row of ``grades.csv``; ``tests`` maps each graded test cell to the points it earned."""

    student_id: str
    notebook: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"   # graded | error | timeout | memory | invalid | refused
    reason: str = ""
    seconds: float = 0.0
    tests: dict = field(default_factory=dict)
    key: str = ""
    note: str = ""           # said to the student at the top of the feedback page
    late: object = None      # True / False as the LMS said, None when unknown (see the module's docstring)
    override: str = ""       # what the overrides changed (grader.pipeline.overrides); never saved in results/
    sandboxed: object = None  # True / False: its kernel ran in the sandbox or not; None: unknown (see the docstring)
    # seconds: prepare, nbgrader, kernel_start, execute, check, feedback
    phases: dict = field(default_factory=dict, compare=False)
    reused: bool = field(default=False, compare=False)   # this run took the saved result (not saved itself)
    clean: bool = field(default=False, compare=False)    # graded by a worker no other notebook had run in


INFRASTRUCTURE_FAILURES = ("error", "timeout", "memory")   # what a hostile neighbour could have caused


def needs_clean_retry(grade: Grade) -> bool:
    """True when ``grade`` looks like the grading machine's failure (a kernel that died, a lost
    worker, a timeout, the memory cap) and was not graded by a clean worker: it must not be final."""
    return grade.status in INFRASTRUCTURE_FAILURES and not grade.clean


def sha256(path: str | Path, largest: int | None = None) -> str:
    """SHA-256 hex digest of the file at ``path``, read 1 MiB at a time. A file of more than
    ``largest`` bytes (a submission too large to be a notebook) is known by its size alone."""
    digest, path = hashlib.sha256(), Path(path)
    size = path.stat().st_size
    if largest is not None and size > largest:
        digest.update(f"{size} bytes".encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def result_key(submission: Submission, source_hash: str, config: GradingConfig) -> str:
    """What a saved result depends on: the submitted file, its source notebook and the limits
    (:meth:`grader.config.GradingConfig.key`)."""
    text = f"{sha256(submission.path, largest=MAX_NOTEBOOK_BYTES)}|{source_hash}|{config.key()}"
    return hashlib.sha256(text.encode()).hexdigest()


def _result_path(course_dir, student_id, assignment):
    return Path(course_dir) / "results" / f"{student_id}__{assignment}.json"


def save_result(course_dir: str | Path, grade: Grade) -> None:
    """Write one result atomically (temporary file, fsync, rename)."""
    path = _result_path(course_dir, grade.student_id, grade.notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: Path(temporary).write_text(json.dumps(asdict(grade), indent=1)))


def load_result(course_dir: str | Path, student_id: str, assignment: str) -> Grade | None:
    """The saved :class:`Grade`, or None when there is none or it is unreadable."""
    try:
        return Grade(**json.loads(_result_path(course_dir, student_id, assignment).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def test_column(notebook: str, test: str) -> str:
    """The ``grades.csv`` column of one graded test: ``01_mnist_cam:test_show_cam_shape``."""
    return f"{notebook}:{test}"


def write_grades_csv(course_dir: str | Path, grades: list[Grade]) -> Path:
    """Write ``grades.csv`` atomically: the base columns, then one column per graded test, named
    with its notebook (:func:`test_column`), sorted."""
    test_columns = sorted({test_column(grade.notebook, name) for grade in grades for name in grade.tests})

    def write(temporary):
        with open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(BASE_COLUMNS + test_columns)
            for grade in sorted(grades, key=lambda g: (g.student_id, g.notebook)):
                row = {**asdict(grade), "late": LATE_TEXT.get(grade.late, ""),
                       "sandboxed": SANDBOXED_TEXT.get(grade.sandboxed, "")}
                tests = {test_column(grade.notebook, name): points for name, points in grade.tests.items()}
                writer.writerow([row[c] for c in BASE_COLUMNS]
                                + [f"{tests[c]:g}" if c in tests else "" for c in test_columns])

    return write_atomically(Path(course_dir) / "grades.csv", write)


def print_table(grades: list[Grade]) -> None:
    """Print the grade table: one line per student and notebook."""
    header = f"{'student_id':<20} {'notebook':<26} {'score':>7} {'max':>5}  {'status':<8} reason"
    print(header)
    print("-" * len(header))
    for grade in sorted(grades, key=lambda g: (g.student_id, g.notebook)):
        print(f"{grade.student_id:<20} {grade.notebook:<26} {grade.score:>7g} {grade.max_score:>5g}  "
              f"{grade.status:<8} {grade.reason}{' (late)' if grade.late else ''}"
              f"{' [set by hand: overrides.csv]' if grade.override else ''}")


def graded_without_sandbox(grades: list[Grade]) -> tuple[list[Grade], list[Grade], list[Grade]]:
    """``(without, unknown, handed_in)``: the results whose kernel ran unsandboxed, those that do not
    say, and every result a kernel could have produced (refused rows are none of these)."""
    handed_in = [g for g in grades if g.status not in ("refused", "dropped")]
    return ([g for g in handed_in if g.sandboxed is False], [g for g in handed_in if g.sandboxed is None], handed_in)


def _names(grades):
    names = [f"{g.student_id}/{g.notebook}" for g in sorted(grades, key=lambda g: (g.student_id, g.notebook))]
    return ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def sandbox_lines(grades: list[Grade]) -> list[str]:
    """The summary's last lines when some of ``grades`` were graded without the sandbox (or do not
    say); none when every one was sandboxed."""
    without, unknown, handed_in = graded_without_sandbox(grades)
    lines = []
    if without:
        lines.append(f"{len(without)} of {len(handed_in)} notebooks were graded WITHOUT the sandbox: "
                     f"{_names(without)}. "
                     "Their kernels could read the reference answers and write wherever the grader's user can "
                     "(README, threat model); `python -m grader doctor` says why the sandbox could not be built. "
                     "A run with the sandbox regrades them.")
    if unknown:
        lines.append(f"{len(unknown)} of {len(handed_in)} notebooks do not record whether they were sandboxed "
                     f"(results saved before the grader recorded it): {_names(unknown)}")
    return lines
