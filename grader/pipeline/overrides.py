"""Scores set by hand: ``COURSE/overrides.csv``, which the instructor edits and the grader reads.

One line per override, with the header ``student_id,notebook,test,points,reason``::

    student_id,notebook,test,points,reason
    jdoe,01_mnist_cam,test_show_cam_values,2,the map is right; the test compared a copy (mail of 3 March)
    ann,01_mnist_cam,,5,handed in by mail on time: graded by hand

``test`` names one graded test (``test_show_cam_values`` or ``01_mnist_cam:test_show_cam_values``)
and sets its points; an empty ``test`` sets the whole notebook's score. ``reason`` is required.
The overrides are applied on top of the automatic scores every time ``grades.csv`` is written
(``autograde`` and ``collect``): in ``grades.csv`` (the ``override`` column says what changed
and why), in nbgrader's gradebook (a test's override as its manual score, a notebook's as extra
credit on its first test), in the printed summary and so in ``export``. The results in
``COURSE/results/`` stay automatic, so a regrade keeps every override, and says so when the
automatic score under one has changed since the last run (``COURSE/overrides-applied.json``
remembers it, with the file's digest that ``export`` checks). A line that cannot be applied
gets a one-line reason naming the line and is skipped; the other lines and every automatic
grade stand.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path

from grader.errors import InputError
from grader.pipeline import gradebook
from grader.pipeline.gradebook import solution_points
from grader.pipeline.results import Grade
from grader.tables import guess_delimiter, read_table
from helpers import write_atomically

OVERRIDES_FILE = "overrides.csv"
APPLIED_FILE = "overrides-applied.json"
COLUMNS = ("student_id", "notebook", "test", "points", "reason")


class OverridesError(InputError, ValueError):
    """``overrides.csv`` cannot be read at all (not UTF-8, not its header); one line that says why."""


@dataclasses.dataclass(frozen=True)
class Override:
    """One line of ``overrides.csv`` (``line``: its line number in the file, the header being 1)."""

    line: int
    student_id: str
    notebook: str
    test: str      # "" for the whole notebook
    points: float
    reason: str

    def target(self) -> str:
        """What it sets, for messages: ``jdoe/01_mnist_cam:test_show_cam_values`` or ``jdoe/01_mnist_cam``."""
        return f"{self.student_id}/{self.notebook}" + (f":{self.test}" if self.test else "")


def digest(course_dir: str | Path) -> str:
    """SHA-256 of ``overrides.csv``'s bytes, or "" when there is no such file."""
    path = Path(course_dir) / OVERRIDES_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def read_overrides(course_dir: str | Path) -> tuple[list[Override], list[str]]:
    """``(overrides, problems)`` from ``COURSE/overrides.csv`` (none when it does not exist):
    each bad line is left out with a one-line problem naming it. Raises OverridesError when the
    file cannot be read or lacks a column."""
    path = Path(course_dir) / OVERRIDES_FILE
    if not path.is_file():
        return [], []
    try:
        table = read_table(path, "the overrides file")
    except ValueError as error:
        raise OverridesError(str(error)) from None
    missing = [name for name in COLUMNS if name not in table.header]
    if missing:
        raise OverridesError(f"{path} line 1: no column {', '.join(missing)} (the header must be "
                             f"{','.join(COLUMNS)}; its columns: {', '.join(table.header) or 'none'})")
    overrides, problems, seen = [], [], {}
    lines = _line_numbers(path)
    for number, row in zip(lines, table.rows):
        override, problem = _parse(number, dict(zip(table.header, (cell.strip() for cell in row))))
        key = None if override is None else (override.student_id, override.notebook, override.test)
        if key in seen:
            problem = f"sets {override.target()} again (line {seen[key]})"
        if problem:
            problems.append(f"{path.name} line {number}: {problem}: skipped")
            continue
        seen[key] = number
        overrides.append(override)
    return overrides, problems


def _line_numbers(path):
    """The line number of each non-blank record after the header (``read_table`` skips blank rows)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        text = handle.read()
    reader, numbers = csv.reader(text.splitlines(keepends=True), delimiter=guess_delimiter(text)), []
    for index, row in enumerate(reader):
        if index and any(cell.strip() for cell in row):
            numbers.append(reader.line_num)
    return numbers


def _parse(number, cells):
    """``(Override, None)`` or ``(None, problem)`` for one row's stripped cells."""
    if not cells["student_id"] or not cells["notebook"]:
        return None, "no student_id or no notebook"
    try:
        points = float(cells["points"].replace(",", "."))
    except ValueError:
        return None, f"points {cells['points']!r} is not a number"
    if not math.isfinite(points) or points < 0:
        return None, f"points {cells['points']!r} must be a number of at least 0"
    if not cells["reason"]:
        return None, "no reason given (say why, for the student and for the next grader)"
    test = cells["test"]
    if test.startswith(cells["notebook"] + ":"):
        test = test[len(cells["notebook"]) + 1:]
    return Override(number, cells["student_id"], cells["notebook"], test, points, cells["reason"]), None


def _number(value):
    return f"{value:g}"


def _maximum(grade):
    """The notebook's points: its row's, else its solution's (a refused row has none)."""
    return grade.max_score or solution_points(grade.notebook)


def _apply_one(grade, override, maxima):
    """``(grade with ``override`` applied, None)`` or ``(grade, problem)`` when it cannot be."""
    if override.test:
        if override.test not in grade.tests:
            tests = ", ".join(sorted(grade.tests))
            return grade, f"{grade.notebook} has no test {override.test!r} (its tests: {tests})"
        if override.points > maxima.get(override.test, math.inf):
            most = _number(maxima[override.test])
            return grade, f"{_number(override.points)} points is more than {override.test}'s {most}"
        before = grade.tests[override.test]
        tests = {**grade.tests, override.test: override.points}
        change = f"{override.test} {_number(before)} -> {_number(override.points)}: {override.reason}"
        return dataclasses.replace(grade, tests=tests, score=grade.score - before + override.points,
                                   override="; ".join(filter(None, [grade.override, change]))), None
    maximum = _maximum(grade)
    if override.points > maximum:
        return grade, f"{_number(override.points)} points is more than {grade.notebook}'s {_number(maximum)}"
    change = f"score {_number(grade.score)} -> {_number(override.points)}: {override.reason}"
    tests = grade.tests or {name: 0.0 for name in maxima}   # a refused row has none: the gradebook needs them
    return dataclasses.replace(grade, score=override.points, max_score=maximum, tests=tests,
                               override="; ".join(filter(None, [grade.override, change]))), None


def apply_overrides(course_dir: str | Path, grades: list[Grade],
                    max_scores: dict[str, dict[str, float]] | None = None) -> tuple[list[Grade], list[str]]:
    """``(grades, lines)``: ``grades`` with ``COURSE/overrides.csv`` applied (new :class:`Grade`
    objects; the ones given are not changed) and the lines the summary prints: each override
    applied, each line skipped with its reason, and each override whose automatic score changed
    since the last run. ``max_scores`` maps a notebook to ``{test: points}`` (the gradebook's;
    a test of a notebook not in it is not capped). Raises OverridesError (see :func:`read_overrides`)."""
    overrides, lines = read_overrides(course_dir)
    by_row = {(grade.student_id, grade.notebook): index for index, grade in enumerate(grades)}
    grades, applied = list(grades), []
    maxima = max_scores or {}
    for override in sorted(overrides, key=lambda o: o.test == ""):   # tests first, then a notebook's score
        index = by_row.get((override.student_id, override.notebook))
        if max_scores is not None and override.notebook not in max_scores and index is not None:
            lines.append(f"{OVERRIDES_FILE} line {override.line}: {override.notebook} is not a notebook the "
                         "gradebook knows (nothing of it was graded): skipped")
            continue
        if index is None:
            lines.append(f"{OVERRIDES_FILE} line {override.line}: no grade of {override.student_id} in "
                         f"{override.notebook} in this class: not applied (kept in the file)")
            continue
        automatic = _automatic(grades[index], override)
        grades[index], problem = _apply_one(grades[index], override, maxima.get(override.notebook, {}))
        if problem:
            lines.append(f"{OVERRIDES_FILE} line {override.line}: {problem}: skipped")
            continue
        applied.append((override, automatic))
    lines.sort(key=lambda line: int(re.search(r" line (\d+)", line)[1]))   # the file's order
    return grades, lines + _record(course_dir, applied)


def _automatic(grade, override):
    """The automatic score (before any override) that ``override`` replaces."""
    return grade.tests.get(override.test, 0.0) if override.test else grade.score


def _record(course_dir, applied):
    """Lines for the applied overrides (noting each whose automatic score changed since the last
    run), then remember this run's automatic scores and the file's digest in ``overrides-applied.json``."""
    path = Path(course_dir) / APPLIED_FILE
    if not applied and not path.exists() and not digest(course_dir):
        return []   # a course without overrides gets no file
    try:
        before = json.loads(path.read_text(encoding="utf-8")).get("automatic", {})
    except (OSError, ValueError, AttributeError):
        before = {}
    lines, now = [], {}
    for override, automatic in applied:
        now[override.target()] = automatic
        line = (f"override {override.target()}: {_number(override.points)} instead of {_number(automatic)} "
                f"({override.reason})")
        if override.target() in before and before[override.target()] != automatic:
            line += (f"; note: its automatic score changed from {_number(before[override.target()])} to "
                     f"{_number(automatic)} since the last run (the override still holds; remove its line "
                     f"{override.line} if it no longer should)")
        lines.append(line)
    text = json.dumps({"digest": digest(course_dir), "automatic": now}, indent=1)
    write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    return lines


def check_applied(course_dir: str | Path) -> str | None:
    """None when ``grades.csv`` holds the overrides of ``overrides.csv`` as it is now, else a
    one-line reason to run ``collect`` (the file was edited after ``grades.csv`` was written)."""
    path = Path(course_dir) / APPLIED_FILE
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("digest", "")
    except (OSError, ValueError, AttributeError):
        recorded = ""
    if recorded == digest(course_dir):
        return None
    return (f"{Path(course_dir) / OVERRIDES_FILE} changed after grades.csv was written: run `python -m grader "
            f"collect --course-dir {course_dir}` to apply it, then export again")


def settle(course_dir: str | Path, grades: list[Grade]) -> tuple[list[Grade], list[str]]:
    """``(grades, lines)`` of :func:`apply_overrides` with the gradebook's maxima, and the course's
    gradebook made to hold them: each overridden grade, and each grade overridden at the last run
    (an override removed since then goes back to the automatic score)."""
    maxima = {}
    for notebook in sorted({grade.notebook for grade in grades}):
        try:
            maxima[notebook] = gradebook.max_scores(course_dir, notebook)
        except Exception:   # nbgrader's MissingEntry: a notebook nothing of which was graded ("-")
            pass
    before = _previously_applied(course_dir)
    automatic = {(grade.student_id, grade.notebook): grade.tests for grade in grades}
    grades, lines = apply_overrides(course_dir, grades, maxima)
    with gradebook.LOCK:
        for grade in grades:
            if grade.override or f"{grade.student_id}/{grade.notebook}" in before:
                gradebook.sync(course_dir, grade, automatic[grade.student_id, grade.notebook])
    return grades, lines


def _previously_applied(course_dir):
    """``{"student/notebook"}`` overridden when ``grades.csv`` was last written."""
    try:
        targets = json.loads((Path(course_dir) / APPLIED_FILE).read_text(encoding="utf-8")).get("automatic", {})
    except (OSError, ValueError, AttributeError):
        return set()
    return {target.split(":")[0] for target in targets}
