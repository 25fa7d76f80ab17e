"""Which students a run grades, and which of the class it keeps from earlier runs.

A course folder's class is what ``COURSE/class.json`` lists. A run grades the students of its
download (or only those named with ``--student``); every other student of the class keeps their
entries and saved results, so a download holding one late student, or a regrade of one student,
leaves the rest of ``grades.csv`` as it was. A student in the download is taken from it alone
(all their rows are this download's). Only ``--drop-missing`` removes the students the download
does not hold (their results stay in ``COURSE/results/``; a later run with them brings them back).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import UsageError
from grader.pipeline.results import Grade, load_result

if TYPE_CHECKING:
    from grader.intake.submissions import Refusal, Submission

CLASS_LIST = "class.json"


def previous_class(course_dir: str | Path) -> dict | None:
    """The course folder's ``class.json`` as written by the last run, or None (none, or unreadable)."""
    try:
        entries = json.loads((Path(course_dir) / CLASS_LIST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entries if isinstance(entries, dict) else None


def select(submissions: list[Submission], refusals: list[Refusal], students: tuple[str, ...] | list[str],
           root: str | Path) -> tuple[list[Submission], list[Refusal]]:
    """``(submissions, refusals)`` of the students in ``students`` only. Raises :class:`UsageError`
    (one line) naming a student the download does not hold."""
    present = {s.student_id for s in submissions} | {r.student_id for r in refusals}
    unknown = [student for student in students if student not in present]
    if unknown:
        raise UsageError(f"--student {unknown[0]}: {root} holds no submission of {unknown[0]!r} "
                         f"(its students: {', '.join(sorted(present)) or 'none'})")
    chosen = set(students)
    return ([s for s in submissions if s.student_id in chosen], [r for r in refusals if r.student_id in chosen])


def keep_others(previous: dict | None, present: set[str], lms: str | None, drop_missing: bool,
                downloaded: set[str] | None = None) -> tuple[dict[str, list[dict]], set[str], list[str]]:
    """``(kept, dropped, notes)``: ``kept`` holds the ``submissions`` and ``refusals`` entries of
    ``previous`` (a class list) whose student is not in ``present`` (graded now); ``dropped`` the
    student ids left out because of ``drop_missing``: those not in ``downloaded`` (the download's
    students; default ``present``), so ``--student`` never drops the download's others. A class
    from another platform's download is not kept (its ids are another platform's): a note says so."""
    kept, dropped, notes = {"submissions": [], "refusals": []}, set(), []
    if not previous:
        return kept, dropped, notes
    if previous.get("lms") != lms:
        notes.append(f"the course folder's class came from a {previous.get('lms') or 'folders'} download and this "
                     f"one is {lms or 'folders'}: its students are not kept (their results stay in results/)")
        return kept, dropped, notes
    for kind in kept:
        for entry in previous.get(kind, []):
            if entry.get("student_id") in present:
                continue
            if drop_missing and entry.get("student_id") not in (present if downloaded is None else downloaded):
                dropped.add(entry["student_id"])
            else:
                kept[kind].append(entry)
    return kept, dropped, notes


def kept_grades(course_dir: str | Path, kept: dict[str, list[dict]]) -> tuple[list[Grade], list[str]]:
    """``(grades, missing)``: the saved result of each kept submission (whose key is still the one
    its entry needs; the entry's late flag, and its sandboxed flag when the result has none) and
    each kept refusal as a row; ``missing`` lists ``student/notebook`` of the kept submissions
    without such a result. ``kept`` may be a whole class list (``collect`` reads them all)."""
    grades, missing = [], []
    for entry in kept["submissions"]:
        grade = load_result(course_dir, entry["student_id"], entry["notebook"])
        if grade is None or grade.key != entry["key"]:
            missing.append(f"{entry['student_id']}/{entry['notebook']}")
            continue
        grade.late, grade.reused = entry.get("late"), True
        if grade.sandboxed is None:   # a result saved before it was recorded: its entry says (the key proves it)
            grade.sandboxed = entry.get("sandboxed")
        grades.append(grade)
    grades += [Grade(r["student_id"], r["notebook"], status="refused", reason=r["reason"], late=r.get("late"))
               for r in kept["refusals"]]
    return grades, missing


def students_of(kept: dict[str, list[dict]]) -> list[str]:
    """The student ids of ``kept`` entries, sorted."""
    return sorted({entry["student_id"] for entries in kept.values() for entry in entries})
