"""Grades into the Canvas assignment they belong to, from Canvas's own gradebook export.

What Canvas writes and reads: ``lib/gradebook_exporter.rb`` (``GradebookExporter#csv_data``) puts
``Student`` (or ``LastName``, ``FirstName``), ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``,
the custom columns, then one column per assignment titled ``Assignment#title_with_id``
("Lab 1 (311)"), a row of "Manual Posting" cells when an assignment posts manually (anonymous
grading does: "Manual Posting (scores hidden from instructors)") and a ``Points Possible`` row.
``lib/gradebook_importer.rb`` finds the students by ``ID`` and each assignment column by the id in
its title (``parse_assignments``); a header that names no assignment becomes a *new* assignment.
So the export writes into the roster's own assignment column, titled exactly as the roster has it:
the one chosen with ``--assignment``, or the columns titled like the notebooks (one each), or the
roster's only assignment (the notebooks' sum). The importer also refuses grades for an anonymous
assignment whose grades are not posted (``gradeable?``).

Anonymous grading: the download names files ``anon_<anonymous id>`` and Canvas's gradebook export
lists no anonymous id, so nothing there says whose a grade is. Once the assignment's grades are
posted, Canvas names the same files by user id (``ContentZipper#get_filename``) and keeps their
attachment ids: ``--unmask`` takes that second download and maps each anonymous id to a user id
through the attachment id of its file.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import InputError
from grader.intake.lms import CANVAS_FILE

if TYPE_CHECKING:
    from grader.tables import Table

ASSIGNMENT_COLUMN = re.compile(r"^(?P<title>.*)\s\((?P<id>\d+)\)$")   # Assignment.title_and_id
HIDDEN_ROW = re.compile(r"^\s*(Muted|Manual Posting.*)?\s*$", re.IGNORECASE)   # GradebookImporter's test


class CanvasError(InputError, ValueError):
    """A roster or download the Canvas export cannot use; the message says what to do."""


def assignment_columns(header: list[str]) -> list[str]:
    """The roster's assignment columns ("Lab 1 (311)"), in its order."""
    return [name for name in header if ASSIGNMENT_COLUMN.match(name)]


def targets(header: list[str], notebooks: list[str], wanted: str | None = None) -> list[tuple[str, list[str]]]:
    """``[(column, [notebooks])]``: where each notebook's grade goes (see the module's docstring)."""
    columns = assignment_columns(header)
    listed = ", ".join(columns) or "none"
    if wanted:
        chosen = [c for c in columns if wanted.strip() in (c, ASSIGNMENT_COLUMN.match(c)["title"],
                                                            ASSIGNMENT_COLUMN.match(c)["id"])]
        if len(chosen) != 1:
            raise CanvasError(f"--assignment {wanted!r} names {'no' if not chosen else 'more than one'} assignment "
                              f"column of the roster (its assignments: {listed})")
        return [(chosen[0], list(notebooks))]
    by_title = {ASSIGNMENT_COLUMN.match(c)["title"]: c for c in columns}
    if any(notebook in by_title for notebook in notebooks):
        missing = [notebook for notebook in notebooks if notebook not in by_title]
        if missing:
            raise CanvasError(f"the roster has a column for some notebooks but none for {', '.join(missing)}: create "
                              "that assignment in Canvas and export the gradebook again, or sum all into one "
                              "column with --assignment")
        return [(by_title[notebook], [notebook]) for notebook in notebooks]
    if len(columns) != 1:
        raise CanvasError(f"the roster has {len(columns)} assignment columns ({listed}): choose the one these grades "
                          "belong to with --assignment 'Title (id)'")
    return [(columns[0], list(notebooks))]


def special_rows(table: Table) -> tuple[list[str] | None, list[str] | None]:
    """``(points possible row, hidden row)`` of a gradebook export, each a list or None."""
    points = next((row for row in table.rows if row and "Points Possible" in row[0]), None)
    hidden = next((row for row in table.rows if row and any(cell.strip() for cell in row)
                   and all(HIDDEN_ROW.match(cell) for cell in row)), None)
    return points, hidden


def _file_ids(download):
    """``{attachment id: user id}`` from the names of a Canvas download (a zip or its folder)."""
    path = Path(download)
    try:
        if path.is_dir():
            names = [p.name for p in path.rglob("*") if p.is_file()]
        else:
            with zipfile.ZipFile(path) as archive:
                names = [Path(name).name for name in archive.namelist()]
    except (OSError, zipfile.BadZipFile) as error:
        raise CanvasError(f"cannot read the download {download} given with --unmask: {error}") from None
    found = {}
    for name in names:
        match = CANVAS_FILE.match(name)
        if match and match["student"].isdigit():
            found[match["file_id"]] = match["student"]
    return found


def unmask(scores: dict[str, dict[str, float]], files: dict[str, list[str]],
           download: str | Path) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``(scores, lines)``: ``scores`` with each anonymous id replaced by the user id that Canvas's
    later download ``download`` gives its files (``files``: ``{anonymous id: [file names]}``), and
    a line for each anonymous id it cannot place (its grades are left out)."""
    by_file, unmasked, lines = _file_ids(download), {}, []
    for student_id, grades in scores.items():
        if not student_id.startswith("anon_"):
            unmasked[student_id] = grades
            continue
        users = {by_file.get(match["file_id"]) for name in files.get(student_id, [])
                 if (match := CANVAS_FILE.match(name.split("/")[0]))} - {None}
        if len(users) != 1:
            lines.append(f"warning: {student_id}: no file of it is in {download} under one user id: left out")
            continue
        unmasked[users.pop()] = grades
    return unmasked, lines
