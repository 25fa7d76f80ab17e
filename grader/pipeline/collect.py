"""The class as a whole: the class list every run writes, and the reports built from the results.

``python -m grader autograde`` writes ``DIR/class.json`` (every submission found, with the key
its result must carry and whether it is graded in the sandbox, and every refusal) before it
grades. Shards (``--shard K/N``) then write only their own result files; ``python -m grader
collect --course-dir DIR`` builds ``grades.csv``, the gradebook and the missing feedback pages from
whatever results are there, lists the submissions without a result yet, and can be run any
number of times.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grader.course import prepare_course
from grader.errors import DONE, INCOMPLETE, GraderError, InputError
from grader.messages import exit_code_of, say
from grader.pipeline import gradebook, report
from grader.pipeline.class_list import CLASS_LIST, kept_grades
from grader.pipeline.feedback import write_feedback
from grader.pipeline.overrides import OverridesError, settle
from grader.pipeline.results import Grade, print_table, sandbox_lines, write_grades_csv
from helpers import write_atomically

if TYPE_CHECKING:
    from grader.intake.submissions import Refusal, Submission

log = logging.getLogger(__name__)


def write_class_list(course_dir: str | Path, submissions: list[Submission], refusals: list[Refusal],
                     keys: dict[tuple[str, str], str], lms: str | None = None, kept: dict | None = None,
                     sandboxed: bool | None = None) -> None:
    """Write ``DIR/class.json``: ``keys`` maps ``(student_id, notebook)`` to the result key expected;
    ``lms`` is where the submissions came from ("canvas", "moodle", "folders"): ``export`` matches
    the student ids by it. Each submission's late flag and file in the download are kept: the
    reports take the late flag from here, so ``collect`` and ``autograde`` write the same. A group's
    submission keeps its group and members: ``export`` gives each member its grade. ``kept`` holds
    the entries of earlier runs' students this run keeps (:func:`grader.pipeline.class_list.keep_others`).
    ``sandboxed`` (each submission's ``sandboxed``): whether this run grades with the sandbox (its
    result key says so too); a kept entry keeps what its own run wrote."""
    entries = {"lms": lms,
               "submissions": [{"student_id": s.student_id, "notebook": s.assignment,
                                "key": keys[(s.student_id, s.assignment)], "late": s.late, "file": s.source,
                                "group": s.group, "members": list(s.members), "sandboxed": sandboxed}
                               for s in submissions],
               "refusals": [{"student_id": r.student_id, "notebook": r.assignment, "reason": r.reason,
                             "late": r.late} for r in refusals]}
    for kind, entries_kept in (kept or {}).items():
        entries[kind] += entries_kept
    path = Path(course_dir) / CLASS_LIST
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temporary: Path(temporary).write_text(json.dumps(entries, indent=1)))


def finish(course_dir: str | Path, grades: list[Grade]) -> None:
    """Feedback pages still missing, ``grades.csv``, the class report (:mod:`grader.pipeline.report`) and
    the printed table with the report's headline, for ``grades``. Raises :class:`InputError` when
    ``COURSE/overrides.csv`` cannot be read (nothing is rewritten then)."""
    try:
        grades, override_lines = settle(course_dir, grades)
    except OverridesError as error:
        raise InputError(f"{error}; grades.csv and the gradebook were not rewritten (the results are saved): fix "
                         f"it, then run `python -m grader collect --course-dir {course_dir}`") from None
    write_feedback(course_dir, grades)
    csv_path = write_grades_csv(course_dir, grades)
    print()
    print_table(grades)
    for line in override_lines:
        print(line)
    print(f"\ngrades: {csv_path}\nfeedback: {Path(course_dir) / 'feedback'}")
    print_report(course_dir, grades)


def print_report(course_dir: str | Path, grades: list[Grade]) -> None:
    """Write the class report and print where it is and its headline; a report that cannot be
    written is a warning (``grades.csv`` is written already)."""
    try:
        path, summary = report.write_report(course_dir, grades)
    except Exception as error:   # the grader's own fault: the grades stand
        log.warning(f"the class report could not be written ({error.__class__.__name__}: {error})")
        return
    print(f"report: {path}")
    for line in report.headline(summary):
        print(f"  {line}")


def collect(course_dir: str | Path) -> int:
    """:func:`collect_results` as tests and scripts call it: the answer ``python -m grader collect``
    gives (its exit code, with a :class:`grader.errors.GraderError` printed as ``error: ...`` on stdout)."""
    say("grader.pipeline", "stdout")
    try:
        return collect_results(course_dir)
    except GraderError as error:
        return exit_code_of(error, sys.stdout)


def collect_results(course_dir: str | Path) -> int:
    """Build the class reports from the results in ``course_dir``; return :data:`DONE`, or
    :data:`INCOMPLETE` when some are missing (listed). Raises :class:`InputError` when no autograde
    run wrote a class list there (or ``COURSE/overrides.csv`` cannot be read)."""
    course_dir = Path(course_dir)
    try:
        entries = json.loads((course_dir / CLASS_LIST).read_text())
    except (OSError, ValueError):
        raise InputError(f"{course_dir / CLASS_LIST} is missing or unreadable: run `python -m grader autograde` "
                         "first") from None
    grades, missing = kept_grades(course_dir, entries)   # the results and refusals the class list names
    prepare_course(course_dir, sorted({entry["notebook"] for entry in entries["submissions"]}))
    with gradebook.LOCK:
        for grade in grades:
            if grade.status != "refused":
                gradebook.sync(course_dir, grade)
    finish(course_dir, grades)
    if missing:
        print(f"\n{len(missing)} submission(s) have no result yet (a shard still running, stopped or not "
              f"started): {', '.join(missing)}")
    for line in sandbox_lines(grades):   # the last lines: grades.csv's sandboxed column and class.json hold it too
        print(line)
    return INCOMPLETE if missing else DONE
