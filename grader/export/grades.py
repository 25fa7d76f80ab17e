"""Grades into an LMS: ``python -m grader export --format canvas|moodle|csv --roster ROSTER.csv OUT.csv``.

The grades come from ``COURSE/grades.csv`` (one row per student and notebook). The roster is the
class list downloaded from the LMS, with ``,`` or ``;`` and with or without a byte-order mark
(:mod:`grader.tables`); ``OUT.csv`` has one row per roster student, in the roster's order, and the
roster's separator:

- ``canvas``: the roster is Canvas' gradebook export. ``OUT.csv`` has its columns ``Student, ID,
  SIS User ID, SIS Login ID, Section``, then the roster's column(s) of the assignment the grades
  belong to, titled as in the roster, and its ``Points Possible`` row (:mod:`grader.export.canvas`).
- ``moodle``: the roster has ``First name``, ``Last name`` and ``Email address`` (Moodle's grade or
  participants export). ``OUT.csv`` has those three columns, then one grade column per notebook.
  When the roster is instead an assignment's grading worksheet (:mod:`grader.intake.moodle_worksheet`,
  in English, French, German or Spanish), ``OUT.csv`` is that worksheet with each graded student's
  grade filled in (the sum of their notebooks), every other cell as Moodle wrote it.
- ``csv``: the roster has ``student_id`` and ``name``. ``OUT.csv`` is ``student_id, name,
  <notebooks>, total, comment``, then the students who are not in the roster, without a name.

A grade whose kernel ran without the sandbox (``grades.csv``'s ``sandboxed`` is ``no``) is exported
as it is, after one warning line on stderr naming such notebooks (:func:`warn_unsandboxed`).

A refused hand-in (a ``refused`` row no override gave a score) exports an empty cell, not 0, and
its reason: on stderr, in the plain CSV's ``comment`` and in a grading worksheet's empty Feedback
comments cell (:func:`read_refusals`).

A grader's student id matches the roster row whose id column (``SIS Login ID``, ``Email
address``, ``student_id``, or ``--id-column``) holds the same text, ignoring case and spaces
around it. When the grades came from an LMS download (``COURSE/class.json`` says which), the
ids are the platform's: Canvas user ids match the ``ID`` column (anonymous ids once ``--unmask``
has turned them into user ids), and Moodle participant ids the number in a grading worksheet's
first column (any other Moodle roster is an error). A group's submission gives its grade to every
member ``class.json`` lists, unless a member has a grade of their own. Students with grades but
no roster row are left out of the Canvas and Moodle files (those systems reject unknown students)
and listed on stderr; roster students without any grade keep empty cells (no submission is not a
zero until the instructor says so) and are listed too. Every cell the grader writes that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so a spreadsheet
shows it instead of running it (OWASP's advice on CSV injection); numbers are kept. The file is
UTF-8 without a byte-order mark, with RFC 4180 quoting and CRLF line ends.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from grader.errors import DONE, InputError
from grader.export import canvas as export_canvas
from grader.intake import moodle_worksheet
from grader.pipeline.gradebook import solution_points
from grader.pipeline.overrides import check_applied
from grader.pipeline.results import BASE_COLUMNS, LISTED
from grader.tables import Table, read_table, write_table

FORMATS = ("canvas", "moodle", "csv")
WORKSHEET = "moodle-worksheet"   # --format moodle with a grading worksheet as the roster
ID_COLUMNS = {"canvas": "SIS Login ID", "moodle": "Email address", "csv": "student_id"}
NAME_COLUMNS = {"canvas": ["Student"], "moodle": ["First name", "Last name"], "csv": ["name"]}
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
ROSTER_SOURCES = {
    "canvas": "Canvas' gradebook export (Grades > Export > Export Entire Gradebook)",
    "moodle": "Moodle's grade export (Grades > Export > Plain text file, comma separated)",
    "csv": "a CSV file with the columns student_id and name",
    WORKSHEET: f"the assignment's grading worksheet ({moodle_worksheet.SOURCE})",
}
Scores = dict[str, dict[str, float]]   # {student id: {notebook: score}}
Refusals = dict[str, list[tuple[str, str]]]   # {student id: [(notebook, reason)]}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class ExportError(InputError):
    """A roster or ``grades.csv`` the export cannot use; the message says what to do."""


def neutralize(cell: object) -> str:
    """``cell`` as text, with a leading ``'`` when a spreadsheet would run it as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets the
    apostrophe (``'=HYPERLINK(...)``); a number such as ``-1.5`` is left as it is.
    """
    text = str(cell)
    if text.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def read_grades(course_dir: str | Path) -> tuple[Scores, dict[str, float]]:
    """``(scores, points)`` from ``COURSE/grades.csv``.

    ``scores`` maps each student id, as written there, to ``{notebook: score}`` (a failed notebook
    scores 0; a refused one has no score unless an override gave it one: :func:`read_refusals`).
    ``points`` maps each notebook, sorted, to the highest
    ``max_score`` of its rows or, when none has one (every submission refused), to the points
    of its solution's test cells.
    """
    path = Path(course_dir) / "grades.csv"
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        raise ExportError(f"{path} not found: run `python -m grader autograde` (or `collect`) first") from None
    scores, points = {}, {}
    try:
        for row in rows:
            if row["notebook"] == "-":   # a file the grader could not place in any notebook: no assignment
                continue
            points[row["notebook"]] = max(points.get(row["notebook"], 0.0), float(row["max_score"]))
            if _refused(row):
                continue
            scores.setdefault(row["student_id"], {})[row["notebook"]] = float(row["score"])
    except (KeyError, TypeError, ValueError):
        raise ExportError(f"{path} is not a grades.csv the grader wrote "
                          f"(columns {', '.join(BASE_COLUMNS)}, ...)") from None
    return scores, {notebook: points[notebook] or solution_points(notebook) for notebook in sorted(points)}


def _refused(row):
    """A refused row that no override gave a score (``override`` is absent from old files)."""
    return row["status"] == "refused" and not row.get("override")


def read_refusals(course_dir: str | Path) -> dict[str, list[tuple[str, str]]]:
    """``{student id: [(notebook, reason)]}``: the hand-ins ``grades.csv`` lists as refused, which
    export leaves empty with their reason (the grader could not decide which file, whose file or
    which notebook; a score is the instructor's call, through ``overrides.csv``)."""
    refusals = {}
    with open(Path(course_dir) / "grades.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if _refused(row):
                refusals.setdefault(row["student_id"], []).append((row["notebook"], row["reason"]))
    return refusals


def refused_of(pairs: list[tuple[dict, dict]], refusals: dict[str, list[tuple[str, str]]],
               key_of: Callable[[dict], str]) -> list[list[tuple[str, str]]]:
    """``[[(notebook, reason)]]``, one list per ``(roster row, grades)`` of ``pairs``: its refused
    hand-ins whose notebook has no grade, and its files placed in no notebook (``-``, a PDF) when
    it has no grade at all (empty when none)."""
    by_key = {_key(student_id): found for student_id, found in refusals.items()}
    return [[(notebook, reason) for notebook, reason in by_key.get(key_of(row), [])
             if notebook not in grades and (notebook != "-" or not grades)] for row, grades in pairs]


def refusal_comment(refused: list[tuple[str, str]]) -> str:
    """The comment that tells a refused hand-in from no hand-in: ``Refused: <reason>``, each one."""
    return "; ".join(f"Refused{'' if notebook == '-' else ' ' + notebook}: {reason or 'no reason recorded'}"
                     for notebook, reason in refused)


def read_unsandboxed(course_dir: str | Path) -> tuple[list[str], int]:
    """``(unsandboxed, handed in)``: the ``student/notebook`` of the rows of ``grades.csv`` whose
    kernel ran WITHOUT the sandbox (``sandboxed`` is ``no``; absent from files written before the
    column existed), and how many rows a kernel produced (refused rows are not counted)."""
    with open(Path(course_dir) / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["status"] != "refused"]
    return [f"{row['student_id']}/{row['notebook']}" for row in rows if row.get("sandboxed") == "no"], len(rows)


def warn_unsandboxed(course_dir: str | Path, out_path: str | Path) -> None:
    """One line on stderr when some grades come from kernels that ran without the sandbox."""
    unsandboxed, handed_in = read_unsandboxed(course_dir)
    if unsandboxed:
        names = ", ".join(unsandboxed[:LISTED]) + (f" and {len(unsandboxed) - LISTED} more"
                                                   if len(unsandboxed) > LISTED else "")
        print(f"warning: {len(unsandboxed)} of {handed_in} notebooks in grades.csv were graded WITHOUT the sandbox "
              f"({names}): their kernels could read the reference answers and write where the grader's user can; "
              f"regrade them with the sandbox (`python -m grader doctor`) before these grades go to the LMS "
              f"({out_path} is written all the same)", file=sys.stderr)


def class_list(course_dir: str | Path) -> dict:
    """The last autograde run's ``COURSE/class.json`` (where the submissions came from, their
    files and groups), or {} when there is none."""
    try:
        entries = json.loads((Path(course_dir) / "class.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def give_group_grades(scores: Scores, entries: dict) -> tuple[Scores, list[str]]:
    """``scores`` with each group submission's score given to the group's other members (a member's
    own grade stays), and the lines that say so (see :mod:`grader.intake.lms_groups`)."""
    scores, lines = {student: dict(grades) for student, grades in scores.items()}, []
    for entry in entries.get("submissions", []):
        student, notebook, members = entry["student_id"], entry["notebook"], entry.get("members") or []
        if notebook not in scores.get(student, {}):
            continue
        given = [m for m in members if m != student and notebook not in scores.get(m, {})]
        kept = [m for m in members if m != student and m not in given]
        for member in given:
            scores.setdefault(member, {})[notebook] = scores[student][notebook]
        if given:
            lines.append(f"group {entry.get('group', '')!r}: {student}'s {notebook} grade goes to "
                         f"{', '.join(given)} too")
        lines += [f"warning: {m} is in group {entry.get('group', '')!r} but has a {notebook} grade of their own: "
                  "kept" for m in kept]
    return scores, lines


def _key(student_id):
    """What a student id is matched by: without surrounding spaces, case folded."""
    return student_id.strip().casefold()


def load_roster(path: str | Path, file_format: str, id_column: str) -> tuple[list[dict[str, str]], Table]:
    """The roster's students as ``{column: text}`` rows, in its order, and its table.

    Blank rows are skipped, and in a Canvas roster the rows without an ``ID`` (the ``Points
    Possible`` and "Manual Posting" rows of a gradebook export). Raises ExportError for a roster
    that is missing, not UTF-8, lacks a column ``file_format`` needs, lists no student or lists
    an id twice.
    """
    try:
        table = read_table(path, "the roster")
    except ValueError as error:
        raise ExportError(str(error)) from None
    names = NAME_COLUMNS[file_format]
    if file_format == "canvas" and "Student" not in table.header and {"LastName", "FirstName"} <= set(table.header):
        names = ["LastName", "FirstName"]   # GradebookExporter's show_student_first_last_name
    required = dict.fromkeys(names + (["ID"] if file_format == "canvas" else []) + [id_column])
    missing = [name for name in required if name not in table.header]
    if missing:
        raise ExportError(f"the roster {path} has no column {', '.join(map(repr, missing))} (its columns: "
                          f"{', '.join(table.header) or 'none'}); use {ROSTER_SOURCES[file_format]}")
    rows = [dict(zip(table.header, row)) for row in table.rows]
    students = [row for row in rows if file_format != "canvas" or row["ID"].strip()]
    if not students:
        raise ExportError(f"the roster {path} lists no students")
    counts = Counter(_key(row[id_column]) for row in students if _key(row[id_column]))
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        raise ExportError(f"the roster {path} has the same {id_column} on several rows: {', '.join(repeated)}")
    return students, table


def match(roster: list[dict[str, str]], scores: Scores,
          key_of: Callable[[dict], str]) -> tuple[list[tuple[dict, dict]], list[str]]:
    """``(pairs, unknown)``: each roster row with its ``{notebook: score}`` (``{}`` when it has
    none), and the student ids of ``scores`` that no roster row has, sorted. ``key_of(row)`` is
    the row's id as matched."""
    by_key = {_key(student_id): grades for student_id, grades in scores.items()}
    roster_keys = {key_of(row) for row in roster}
    pairs = [(row, by_key.get(key_of(row), {})) for row in roster]
    unknown = sorted(student_id for student_id in scores if _key(student_id) not in roster_keys)
    return pairs, unknown


def _number(value, comma=False):
    text = f"{value:g}"
    return text.replace(".", ",") if comma else text


def _grade_cells(grades, assignments):
    """One cell per assignment: the score, or empty without a submission."""
    return [_number(grades[name]) if name in grades else "" for name in assignments]


def report(unknown: list[str], missing: list[tuple[str, str]], id_column: str, fate: str, empty: str,
           refused: Sequence[tuple] = ()) -> None:
    """List on stderr, one line each, the graded students not in the roster (``unknown``), the
    roster students without any grade (``missing``: ``(name, id)``) and those whose hand-in was
    refused (``refused``: ``(name, id, [(notebook, reason)])``: not "no submission")."""
    for student_id in unknown:
        print(f"warning: {student_id} has grades but is not in the roster (no {id_column} {student_id!r}): {fate}",
              file=sys.stderr)
    said = {student_id for _, student_id, _ in refused}
    for name, student_id in missing:
        if student_id not in said:
            print(f"warning: {name} ({id_column} {student_id!r}) is in the roster but has no submission: {empty}",
                  file=sys.stderr)
    for name, student_id, found in refused:
        print(f"warning: {name} ({id_column} {student_id!r}) handed in work the grader refused "
              f"({refusal_comment(found)}): {empty}", file=sys.stderr)


def _write(out_path, rows, delimiter=",", neutralized=True):
    """Write ``rows`` (every cell neutralized unless not ``neutralized``: cells the LMS wrote and reads back)."""
    try:
        write_table(out_path, [[neutralize(cell) if neutralized else cell for cell in row] for row in rows], delimiter)
    except OSError as error:
        raise ExportError(f"cannot write {out_path}: {error.strerror}") from None


def _canvas_name(row):
    """The Student cell: the roster's, or "Last, First" from a LastName/FirstName roster."""
    return row["Student"] if "Student" in row else ", ".join(filter(None, (row["LastName"], row["FirstName"])))


def write_canvas(roster_path: str | Path, out_path: str | Path, scores: Scores, points: dict[str, float],
                 id_column: str, assignment: str | None = None, refusals: Refusals | None = None) -> int:
    """Canvas's import file into the roster's own assignment column(s) (:mod:`grader.export.canvas`)."""
    roster, table = load_roster(roster_path, "canvas", id_column)
    try:
        targets = export_canvas.targets(table.header, points, assignment)
    except export_canvas.CanvasError as error:
        raise ExportError(str(error)) from None
    points_row, hidden_row = export_canvas.special_rows(table)
    pairs, unknown = match(roster, scores, lambda row: _key(row[id_column]))
    rows = [CANVAS_COLUMNS + [column for column, _ in targets],
            ["Points Possible"] + [""] * (len(CANVAS_COLUMNS) - 1)
            + [points_row[table.header.index(column)] if points_row else "" for column, _ in targets]]
    for row, grades in pairs:
        cells = [_number(sum(grades[n] for n in notebooks if n in grades))
                 if any(n in grades for n in notebooks) else "" for _, notebooks in targets]
        rows.append([_canvas_name(row)] + [row.get(column, "") for column in CANVAS_COLUMNS[1:]] + cells)
    _write(out_path, rows, table.delimiter)
    for column, notebooks in targets:
        print(f"{column} <- {' + '.join(notebooks)}{' (their sum)' if len(notebooks) > 1 else ''}")
        _check_canvas_column(table, column, points_row, hidden_row, sum(points[n] for n in notebooks))
    refused = refused_of(pairs, refusals or {}, lambda row: _key(row[id_column]))
    report(unknown, [(_canvas_name(r), r[id_column]) for r, g in pairs if not g], id_column,
           f"left out of {out_path}", "grade cells left empty",
           [(_canvas_name(r), r[id_column], found) for (r, _), found in zip(pairs, refused) if found])
    return len(pairs)


def _check_canvas_column(table, column, points_row, hidden_row, worth):
    """Warn when the roster's points for ``column`` are not the notebooks' (``worth``), and when
    the column is anonymous with unposted grades (Canvas ignores imported grades for it then)."""
    index = table.header.index(column)
    try:
        possible = float(points_row[index].replace(",", ".")) if points_row else None
    except ValueError:
        possible = None
    if possible is not None and possible != worth:
        print(f"warning: the roster says {column} is worth {_number(possible)} points but its notebooks are worth "
              f"{_number(worth)}: set the assignment's points to {_number(worth)} in Canvas", file=sys.stderr)
    if hidden_row and "hidden" in hidden_row[index]:
        print(f"warning: the roster was exported while {column} was anonymous with its grades unposted; Canvas "
              "ignores imported grades for it until they are posted (Gradebook > the assignment's menu > Post "
              "grades)", file=sys.stderr)


def write_moodle(roster_path: str | Path, out_path: str | Path, scores: Scores, points: dict[str, float],
                 id_column: str, refusals: Refusals | None = None) -> int:
    """Moodle's CSV grade import: the names, the identifier column and one column per notebook."""
    roster, table = load_roster(roster_path, "moodle", id_column)
    pairs, unknown = match(roster, scores, lambda row: _key(row[id_column]))
    names = NAME_COLUMNS["moodle"]
    rows = [names + [id_column] + list(points)]
    rows += [[row[column] for column in names + [id_column]] + _grade_cells(grades, points) for row, grades in pairs]
    _write(out_path, rows, table.delimiter)
    refused = refused_of(pairs, refusals or {}, lambda row: _key(row[id_column]))
    report(unknown, [(" ".join(r[c] for c in names), r[id_column]) for r, g in pairs if not g], id_column,
           f"left out of {out_path}", "grade cells left empty",
           [(" ".join(r[c] for c in names), r[id_column], found) for (r, _), found in zip(pairs, refused) if found])
    return len(pairs)


def write_worksheet(roster_path: str | Path, out_path: str | Path, scores: Scores, points: dict[str, float],
                    refusals: Refusals | None = None) -> int:
    """The grading worksheet with each graded student's grade (the sum of their notebooks), for
    Moodle's Upload grading worksheet; the other students' rows are left as they were, but for
    a refused hand-in's reason in an empty Feedback comments cell (when the worksheet has one)."""
    try:
        worksheet = moodle_worksheet.read_worksheet(roster_path)
    except ValueError as error:
        raise ExportError(str(error)) from None
    check_worksheet_maximum(worksheet, points)
    print(f"matching on the roster's {worksheet.table.header[0]!r}: the participant ids of a Moodle grading worksheet")
    roster = [row for _, row in worksheet.participants()]
    pairs, unknown = match(roster, scores, lambda row: moodle_worksheet.participant_id(row[0]))
    comma = moodle_worksheet.decimal_comma(worksheet)
    grades = {moodle_worksheet.participant_id(row[0]): _number(sum(g.values()), comma) for row, g in pairs if g}
    refused = refused_of(pairs, refusals or {}, lambda row: moodle_worksheet.participant_id(row[0]))
    comments = {moodle_worksheet.participant_id(row[0]): refusal_comment(found)
                for (row, _), found in zip(pairs, refused) if found}
    try:
        moodle_worksheet.write_grades(worksheet, grades, out_path, comments)
    except OSError as error:
        raise ExportError(f"cannot write {out_path}: {error.strerror}") from None
    report(unknown, [(worksheet.name(r), r[0]) for r, g in pairs if not g], worksheet.table.header[0],
           f"left out of {out_path}", "Grade left as downloaded",
           [(worksheet.name(r), r[0], found) for (r, _), found in zip(pairs, refused) if found])
    return len(pairs)


def check_worksheet_maximum(worksheet: moodle_worksheet.Worksheet, points: dict[str, float]) -> None:
    """Warn when the worksheet's maximum grade is not the notebooks' points: Moodle skips a
    grade above the maximum, and one below it means something else than intended."""
    total, maxima = sum(points.values()), set()
    for row in worksheet.table.rows if worksheet.maximum is not None else []:
        try:
            maxima.add(float(row[worksheet.maximum].replace(",", ".")))
        except ValueError:
            pass
    for maximum in sorted(maxima - {total}):
        print(f"warning: the assignment's Maximum Grade in the worksheet is {_number(maximum)} but the notebooks are "
              f"worth {_number(total)}: set the Moodle assignment's maximum grade to {_number(total)} "
              "(Moodle skips a grade above its maximum)", file=sys.stderr)


def write_plain(roster_path: str | Path, out_path: str | Path, scores: Scores, points: dict[str, float],
                id_column: str, refusals: Refusals | None = None) -> int:
    """``student_id, name, <notebooks>, total, comment``: the roster's students, then those not in
    it; ``comment`` tells a refused hand-in (its reason) from none (empty)."""
    roster, table = load_roster(roster_path, "csv", id_column)
    pairs, unknown = match(roster, scores, lambda row: _key(row[id_column]))
    refused = refused_of(pairs, refusals or {}, lambda row: _key(row[id_column]))
    students = [(row[id_column], row["name"], grades, found) for (row, grades), found in zip(pairs, refused)]
    students += [(student_id, "", scores[student_id], []) for student_id in unknown]
    rows = [["student_id", "name"] + list(points) + ["total", "comment"]]
    rows += [[student_id, name] + _grade_cells(grades, points) + [_number(sum(grades.values())) if grades else "",
                                                                  refusal_comment(found)]
             for student_id, name, grades, found in students]
    _write(out_path, rows, table.delimiter)
    report(unknown, [(r["name"], r[id_column]) for r, g in pairs if not g], id_column, "listed without a name",
           "grade cells left empty",
           [(r["name"], r[id_column], found) for (r, _), found in zip(pairs, refused) if found])
    return len(pairs)


def choose_format(file_format: str, roster_path: str | Path, source: str | None,
                  id_column: str | None) -> tuple[str, str | None]:
    """``(format, id column)``: a Moodle roster that is a grading worksheet is written back as one,
    and grades from an LMS download match on that platform's id unless ``--id-column`` says otherwise."""
    if file_format == "moodle" and _is_worksheet(roster_path):
        return WORKSHEET, None
    if id_column is None and source == "canvas" and file_format == "canvas":
        print("matching on the roster's 'ID': the grades came from a Canvas submissions download")
        return file_format, "ID"
    if id_column is None and source == "moodle" and file_format == "moodle":
        raise ExportError(f"the grades are keyed by Moodle participant ids (a Moodle submissions download), which "
                          f"{roster_path} does not have: use {ROSTER_SOURCES[WORKSHEET]} as the roster, then upload "
                          "the file written here with Upload grading worksheet")
    return file_format, id_column or ID_COLUMNS[file_format]


def _is_worksheet(path):
    try:
        return moodle_worksheet.looks_like_worksheet(read_table(path, "the roster"))
    except ValueError:
        return False   # load_roster says why


def platform_ids(scores: Scores, entries: dict, file_format: str, unmask: str | Path | None = None) -> Scores:
    """``scores`` keyed by ids the roster has: anonymous Canvas ids turned into user ids with
    ``--unmask``, then each group's grade given to its members. Prints what it did."""
    anonymous = [student for student in scores if student.startswith("anon_")]
    if anonymous and entries.get("lms") == "canvas":
        if unmask is None or file_format != "canvas":
            raise ExportError(f"the grades are keyed by Canvas anonymous ids ({anonymous[0]}, ...), which no roster "
                              "lists: post the assignment's grades in Canvas, download its submissions again (the "
                              "file names then carry user ids) and pass that download with --unmask")
        files = {}
        for entry in entries.get("submissions", []):
            files.setdefault(entry["student_id"], []).append(entry.get("file", ""))
        try:
            scores, lines = export_canvas.unmask(scores, files, unmask)
        except export_canvas.CanvasError as error:
            raise ExportError(str(error)) from None
        print(f"--unmask: {len(anonymous) - len(lines)} anonymous ids matched to user ids", file=sys.stderr)
        for line in lines:
            print(line, file=sys.stderr)
    scores, lines = give_group_grades(scores, entries)
    for line in lines:
        print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)
    return scores


def export(file_format: str, roster_path: str | Path, out_path: str | Path, course_dir: str | Path,
           id_column: str | None = None, assignment: str | None = None, unmask: str | Path | None = None) -> int:
    """Write ``out_path`` in ``file_format`` from ``course_dir``'s grades and the roster; return
    :data:`~grader.errors.DONE`. Raises :class:`ExportError` (a one-line message) when the roster or
    ``grades.csv`` cannot be used."""
    entries = class_list(course_dir)
    if (assignment or unmask) and file_format != "canvas":
        raise ExportError("--assignment and --unmask are for --format canvas")
    file_format, id_column = choose_format(file_format, roster_path, entries.get("lms"), id_column)
    stale = check_applied(course_dir)
    if stale:
        raise ExportError(stale)
    scores, points = read_grades(course_dir)
    refusals = read_refusals(course_dir)
    warn_unsandboxed(course_dir, out_path)
    scores = platform_ids(scores, entries, file_format, unmask)
    if file_format == "canvas":
        students = write_canvas(roster_path, out_path, scores, points, id_column, assignment, refusals)
    elif file_format == WORKSHEET:
        students = write_worksheet(roster_path, out_path, scores, points, refusals)
    elif file_format == "moodle":
        students = write_moodle(roster_path, out_path, scores, points, id_column, refusals)
    else:
        students = write_plain(roster_path, out_path, scores, points, id_column, refusals)
    print(f"{out_path}: {students} roster students, {len(points)} assignments ({file_format})")
    return DONE
