"""Grades into an LMS: ``python -m grader export --format canvas|moodle|csv --roster ROSTER.csv OUT.csv``.

The grades come from ``COURSE/grades.csv`` (one row per student and notebook); each notebook
found there is an assignment, a column of ``OUT.csv``. The roster is the class list downloaded
from the LMS; ``OUT.csv`` has one row per roster student, in the roster's order:

- ``canvas``: the roster is Canvas' gradebook export. ``OUT.csv`` has its columns ``Student, ID,
  SIS User ID, SIS Login ID, Section``, one column per assignment, and a ``Points Possible`` row
  under the header with each assignment's points.
- ``moodle``: the roster has ``First name``, ``Last name`` and ``Email address`` (Moodle's grade or
  participants export). ``OUT.csv`` has those three columns, then one grade column per assignment.
  When the roster is instead an assignment's grading worksheet (``Identifier`` = "Participant
  12345", ``Full name``, ``Grade``, ...), ``OUT.csv`` is that worksheet with each graded
  student's ``Grade`` filled in (the sum of their notebooks), for "Upload grading worksheet";
  its other cells are written back as Moodle wrote them (Moodle reads the feedback columns back).
- ``csv``: the roster has ``student_id`` and ``name``. ``OUT.csv`` is ``student_id, name,
  <assignments>, total``, then the students who are not in the roster, without a name.

A grader's student id matches the roster row whose id column (``SIS Login ID``, ``Email
address``, ``student_id``, or ``--id-column``) holds the same text, ignoring case and spaces
around it. When the grades came from an LMS download (``COURSE/class.json`` says which), the
ids are the platform's: Canvas user ids match the ``ID`` column, and Moodle participant ids the
number in a grading worksheet's ``Identifier`` (any other Moodle roster is an error). Students with grades but no roster row are left out of the Canvas and Moodle files
(those systems reject unknown students) and listed on stderr; roster students without any grade
keep empty cells (no submission is not a zero until the instructor says so) and are listed too.
Every cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so a spreadsheet shows it instead of running it (OWASP's advice on CSV injection); numbers
are kept. The file is UTF-8 without a byte-order mark, with RFC 4180 quoting and CRLF line ends.
"""

import csv
import json
import re
import sys
from collections import Counter
from pathlib import Path

from grader.course import SOLUTIONS_DIR
from grader.results import BASE_COLUMNS
from helpers._cache import write_atomically

FORMATS = ("canvas", "moodle", "csv")
WORKSHEET = "moodle-worksheet"   # --format moodle with a grading worksheet as the roster
ID_COLUMNS = {"canvas": "SIS Login ID", "moodle": "Email address", "csv": "student_id", WORKSHEET: "Identifier"}
NAME_COLUMNS = {"canvas": ["Student"], "moodle": ["First name", "Last name"], "csv": ["name"], WORKSHEET: ["Full name"]}
REQUIRED_COLUMNS = {"canvas": ["Student", "ID"], "moodle": ["First name", "Last name"], "csv": ["name"],
                    WORKSHEET: ["Full name", "Grade", "Last modified (grade)"]}
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
ROSTER_SOURCES = {
    "canvas": "Canvas' gradebook export (Grades > Export > Export Entire Gradebook)",
    "moodle": "Moodle's grade export (Grades > Export > Plain text file, comma separated)",
    "csv": "a CSV file with the columns student_id and name",
    WORKSHEET: "the assignment's grading worksheet (View all submissions > Grading action > Download grading worksheet)",
}
# The id column export matches by default for grades that came from an LMS download (grader.lms).
DOWNLOAD_ID_COLUMNS = {("canvas", "canvas"): "ID", ("moodle", WORKSHEET): "Identifier"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class ExportError(Exception):
    """A roster or ``grades.csv`` the export cannot use; the message says what to do."""


def neutralize(cell):
    """``cell`` as text, with a leading ``'`` when a spreadsheet would run it as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets the
    apostrophe (``'=HYPERLINK(...)``); a number such as ``-1.5`` is left as it is.
    """
    text = str(cell)
    if text.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def solution_points(notebook, solutions_dir=SOLUTIONS_DIR):
    """The points of ``notebook``'s graded test cells in ``solutions/<notebook>.ipynb``; 0 without one."""
    try:
        cells = json.loads((Path(solutions_dir) / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return 0.0
    total = 0.0
    for cell in cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("grade"):
            total += float(nbgrader.get("points", 0))
    return total


def read_grades(course_dir):
    """``(scores, points)`` from ``COURSE/grades.csv``.

    ``scores`` maps each student id, as written there, to ``{notebook: score}`` (a refused or
    failed notebook scores 0). ``points`` maps each notebook, sorted, to the highest
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
            scores.setdefault(row["student_id"], {})[row["notebook"]] = float(row["score"])
            points[row["notebook"]] = max(points.get(row["notebook"], 0.0), float(row["max_score"]))
    except (KeyError, TypeError, ValueError):
        raise ExportError(f"{path} is not a grades.csv the grader wrote "
                          f"(columns {', '.join(BASE_COLUMNS)}, ...)") from None
    return scores, {notebook: points[notebook] or solution_points(notebook) for notebook in sorted(points)}


def read_roster(path, file_format, id_column):
    """The roster's students: one ``{column: text}`` per row, in its order.

    Blank rows are skipped, and in a Canvas roster the rows without an ``ID`` (the ``Points
    Possible`` row of a gradebook export). Raises ExportError for a roster that is missing, not
    UTF-8, lacks a column ``file_format`` needs, lists no student or lists an id twice.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            rows = [{name: (text or "") for name, text in row.items() if name is not None} for row in reader]
    except OSError as error:
        raise ExportError(f"cannot read the roster {path}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise ExportError(f"the roster {path} is not a UTF-8 CSV file ({error}): save it as CSV UTF-8") from None
    required = dict.fromkeys(REQUIRED_COLUMNS[file_format] + [id_column])
    missing = [name for name in required if name not in reader.fieldnames]
    if missing:
        raise ExportError(f"the roster {path} has no column {', '.join(map(repr, missing))} (its columns: "
                          f"{', '.join(reader.fieldnames) or 'none'}); use {ROSTER_SOURCES[file_format]}")
    students = [row for row in rows if any(text.strip() for text in row.values())
                and (file_format != "canvas" or row["ID"].strip())]
    if not students:
        raise ExportError(f"the roster {path} lists no students")
    counts = Counter(_key(row[id_column]) for row in students if _key(row[id_column]))
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        raise ExportError(f"the roster {path} has the same {id_column} on several rows: {', '.join(repeated)}")
    return students


def _key(student_id):
    """What a student id is matched by: without surrounding spaces, case folded."""
    return student_id.strip().casefold()


def _roster_key(row, id_column):
    """The roster row's id as matched: a worksheet's "Participant 12345" is the participant id 12345."""
    text = row[id_column]
    if id_column == ID_COLUMNS[WORKSHEET]:
        number = re.search(r"(\d+)\s*$", text)
        text = number[1] if number else text
    return _key(text)


def match(roster, scores, id_column):
    """``(pairs, unknown)``: each roster row with its ``{notebook: score}`` (``{}`` when it has
    none), and the student ids of ``scores`` that no roster row has, sorted."""
    by_key = {_key(student_id): grades for student_id, grades in scores.items()}
    roster_keys = {_roster_key(row, id_column) for row in roster}
    pairs = [(row, by_key.get(_roster_key(row, id_column), {})) for row in roster]
    unknown = sorted(student_id for student_id in scores if _key(student_id) not in roster_keys)
    return pairs, unknown


def _number(value):
    return f"{value:g}"


def _grade_cells(grades, assignments):
    """One cell per assignment: the score, or empty without a submission."""
    return [_number(grades[name]) if name in grades else "" for name in assignments]


def canvas_rows(pairs, points):
    """Canvas' import file: its five student columns, one column per assignment, and a
    ``Points Possible`` row under the header."""
    assignments = list(points)
    yield CANVAS_COLUMNS + assignments
    yield ["Points Possible"] + [""] * (len(CANVAS_COLUMNS) - 1) + [_number(points[name]) for name in assignments]
    for row, grades in pairs:
        yield [row.get(column, "") for column in CANVAS_COLUMNS] + _grade_cells(grades, assignments)


def moodle_rows(pairs, points, id_column):
    """Moodle's import file: the names, the identifier column and one grade column per assignment."""
    assignments = list(points)
    yield NAME_COLUMNS["moodle"] + [id_column] + assignments
    for row, grades in pairs:
        yield [row[column] for column in NAME_COLUMNS["moodle"] + [id_column]] + _grade_cells(grades, assignments)


def worksheet_rows(pairs, columns):
    """Moodle's grading worksheet as downloaded, with ``Grade`` = the sum of each graded student's
    notebooks; the other students' rows are left as they were."""
    yield columns
    for row, grades in pairs:
        cells = dict(row, Grade=_number(sum(grades.values()))) if grades else row
        yield [cells[column] for column in columns]


def check_worksheet_maximum(roster, points):
    """Warn when the worksheet's ``Maximum Grade`` is not the notebooks' points: Moodle skips a
    grade above the maximum, and one below it means something else than intended."""
    total = sum(points.values())
    maxima = set()
    for row in roster:
        try:
            maxima.add(float(row.get("Maximum Grade", "").replace(",", ".")))
        except ValueError:
            pass
    for maximum in sorted(maxima - {total}):
        print(f"warning: the assignment's Maximum Grade in the worksheet is {_number(maximum)} but the notebooks are "
              f"worth {_number(total)}: set the Moodle assignment's maximum grade to {_number(total)} "
              "(Moodle skips a grade above its maximum)", file=sys.stderr)


def plain_rows(pairs, unknown, scores, points, id_column):
    """``student_id, name, <assignments>, total``: the roster's students, then those not in it."""
    assignments = list(points)
    yield ["student_id", "name"] + assignments + ["total"]
    students = [(row[id_column], row["name"], grades) for row, grades in pairs]
    students += [(student_id, "", scores[student_id]) for student_id in unknown]
    for student_id, name, grades in students:
        total = _number(sum(grades.values())) if grades else ""
        yield [student_id, name] + _grade_cells(grades, assignments) + [total]


def write_csv(path, rows, neutralized=True):
    """Write ``rows`` to ``path`` atomically: UTF-8, RFC 4180 quoting, every cell neutralized
    (unless not ``neutralized``: cells the LMS wrote and reads back)."""
    def write(temporary):
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([neutralize(cell) if neutralized else cell for cell in row] for row in rows)

    return write_atomically(path, write)


def report_mismatches(pairs, unknown, file_format, id_column, out_path):
    """List on stderr, one line each, the graded students not in the roster and the roster
    students without any grade."""
    fate = "listed without a name" if file_format == "csv" else f"left out of {out_path}"
    empty = "Grade left as downloaded" if file_format == WORKSHEET else "grade cells left empty"
    for student_id in unknown:
        print(f"warning: {student_id} has grades but is not in the roster "
              f"(no {id_column} {student_id!r}): {fate}", file=sys.stderr)
    for row, grades in pairs:
        if not grades:
            name = " ".join(row[column] for column in NAME_COLUMNS[file_format])
            print(f"warning: {name} ({id_column} {row[id_column]!r}) is in the roster but has no "
                  f"submission: {empty}", file=sys.stderr)


def submissions_source(course_dir):
    """Where the graded submissions came from, as the last autograde run wrote in
    ``COURSE/class.json``: "canvas", "moodle", "folders", or None (no class list, or an old one)."""
    try:
        return json.loads((Path(course_dir) / "class.json").read_text(encoding="utf-8")).get("lms")
    except (OSError, ValueError, AttributeError):
        return None


def _roster_columns(path):
    """The roster's header (stripped), or [] when it cannot be read (read_roster says why)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def choose_format(file_format, roster_path, course_dir, id_column):
    """``(format, id column)``: a Moodle roster that is a grading worksheet is written back as one,
    and grades from an LMS download match on that platform's id unless ``--id-column`` says otherwise."""
    if file_format == "moodle" and "Identifier" in _roster_columns(roster_path):
        file_format = WORKSHEET
    source = submissions_source(course_dir)
    if id_column is None and source in ("canvas", "moodle"):
        if (source, file_format) in DOWNLOAD_ID_COLUMNS:
            id_column = DOWNLOAD_ID_COLUMNS[(source, file_format)]
            print(f"matching on the roster's {id_column!r}: the grades came from a {source.capitalize()} "
                  "submissions download")
        elif source == "moodle" and file_format == "moodle":
            raise ExportError(f"the grades in {course_dir} are keyed by Moodle participant ids (a Moodle submissions "
                              f"download), which {roster_path} does not have: use {ROSTER_SOURCES[WORKSHEET]} as the "
                              "roster, then upload the file written here with Upload grading worksheet")
    return file_format, id_column or ID_COLUMNS[file_format]


def export(file_format, roster_path, out_path, course_dir, id_column=None):
    """Write ``out_path`` in ``file_format`` from ``course_dir``'s grades and the roster; return 0, or
    2 with a one-line error when the roster or ``grades.csv`` cannot be used."""
    try:
        file_format, id_column = choose_format(file_format, roster_path, course_dir, id_column)
        scores, points = read_grades(course_dir)
        roster = read_roster(roster_path, file_format, id_column)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    pairs, unknown = match(roster, scores, id_column)
    if file_format == "canvas":
        rows = canvas_rows(pairs, points)
    elif file_format == "moodle":
        rows = moodle_rows(pairs, points, id_column)
    elif file_format == WORKSHEET:
        check_worksheet_maximum(roster, points)
        rows = worksheet_rows(pairs, list(roster[0]))
    else:
        rows = plain_rows(pairs, unknown, scores, points, id_column)
    try:
        write_csv(out_path, list(rows), neutralized=file_format != WORKSHEET)
    except OSError as error:
        print(f"error: cannot write {out_path}: {error.strerror}", file=sys.stderr)
        return 2
    report_mismatches(pairs, unknown, file_format, id_column, out_path)
    print(f"{out_path}: {len(pairs)} roster students, {len(points)} assignments ({file_format})")
    return 0
