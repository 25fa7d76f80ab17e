"""Moodle's grading worksheet (View all submissions > Grading action > Download grading worksheet),
read in any of the interface languages checked here and written back for "Upload grading worksheet".

What Moodle writes (``mod/assign/gradingtable.php``, ``assign_grading_table::__construct`` in
download mode, and ``col_recordid``, ``col_status``, ``col_team``): the first column is always
the record id, ``get_string('hiddenuser', 'assign') . <participant id>`` ("Participant 5001" in
English; "Participant5001", "Teilnehmer/in5001", "Participante5001" in French, German and Spanish,
whose strings have no trailing space), then the full name and identity fields unless blind marking
hides them, the status (its parts joined with " - ", one of them ``submittedlateshort`` for a late
submission), the team ("Group") column when students submit in groups, the grade, the maximum
grade, ... and the last-modified dates. Moodle's importer finds the identifier, grade and
"Last modified (grade)" columns by their names in the uploader's language and reads the number at
the end of each identifier (``mod/assign/feedback/offline/importgradeslib.php``,
``assignfeedback_offline_grade_importer::init`` and ``next``).

So the worksheet is recognized by its structure: a first column whose every value is one word
followed by a number. The other columns are found by their names in English, French, German and
Spanish: Moodle 4.5's strings from the AMOS language packs (``mod/assign/lang/en/assign.php`` in
moodle/moodle; ``fr``, ``de`` and ``es`` ``assign.php`` and ``moodle.php``, version 4.5, as
mirrored in projectestac/odissea ``html/langpacks/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader.intake.base import IntakeError
from grader.tables import Table, read_table, write_table

SOURCE = "View all submissions > Grading action > Download grading worksheet"
# get_string(...) in en, fr, de, es (Moodle 4.5 language packs; see the module's docstring).
GRADE = {"Grade", "Note", "Bewertung", "Calificación"}                      # core gradenoun (grade before 4.2)
STATUS = {"Status", "Statut", "Estado"}                                     # assign status
TEAM = {"Group", "Groupe", "Gruppe", "Grupo"}                               # assign submissionteam
FULL_NAME = {"Full name", "Nom complet", "Vollständiger Name", "Nombre completo"}   # core fullname
MAXIMUM = {"Maximum Grade", "Maximum grade", "Note maximale", "Bestwertung", "Calificación máxima"}   # assign maxgrade
# assignfeedback_comments pluginname: the worksheet's feedback comment column (Upload grading worksheet reads it).
COMMENTS = {"Feedback comments", "Feedback par commentaires", "Feedback als Kommentar",
            "Comentarios de retroalimentación"}
DEFAULT_TEAM = {"Default group", "Groupe par défaut", "Standard-Gruppe", "Grupo predeterminado"}   # assign defaultteam
# assign submittedlateshort: '{$a} late', 'En retard de {$a}', '{$a} zu spät', '{$a} después'.
LATE = [re.compile(r"^.+ late$"), re.compile(r"^En retard de .+$"), re.compile(r"^.+ zu spät$"),
        re.compile(r"^.+ después$")]
RECORD_ID = re.compile(r"^(?P<prefix>\D*?)\s*(?P<number>\d+)\s*$")


@dataclass
class Worksheet:
    """A grading worksheet: its table and the columns found in it (indexes, None when absent)."""

    path: object
    table: object
    grade: int
    status: object
    team: object
    full_name: object
    maximum: object

    def participants(self) -> list[tuple[str, list[str]]]:
        """``[(participant id, row)]`` in the worksheet's order."""
        return [(participant_id(row[0]), row) for row in self.table.rows if participant_id(row[0])]

    def lateness(self) -> dict[str, bool]:
        """``{participant id: late}``: late when a part of the status is Moodle's "... late"."""
        return {number: self.status is not None and is_late(row[self.status]) for number, row in self.participants()}

    def teams(self) -> dict[str, str] | None:
        """``{participant id: team name}`` when students submit in groups, else None."""
        if self.team is None:
            return None
        return {number: row[self.team].strip() for number, row in self.participants()}

    def name(self, row: list[str]) -> str:
        """The student's full name, or the identifier when blind marking hides it."""
        return row[self.full_name] if self.full_name is not None else row[0]


def participant_id(record_id: str | None) -> str | None:
    """``"5001"`` for "Participant 5001" (or "Teilnehmer/in5001"), None for anything else."""
    match = RECORD_ID.match(record_id or "")
    return match["number"] if match and match["prefix"] else None


def is_late(status: str) -> bool:
    """True when one of the " - "-joined parts of a status cell is a late message."""
    return any(pattern.match(part.strip()) for part in status.split(" - ") for pattern in LATE)


def looks_like_worksheet(table: Table) -> bool:
    """True when the first column is a record id on every row, with one prefix ("Participant")."""
    prefixes = {RECORD_ID.match(row[0])["prefix"] if RECORD_ID.match(row[0]) else None for row in table.rows}
    return bool(table.rows) and len(prefixes) == 1 and bool(prefixes.pop())


def read_worksheet(path: str | Path) -> Worksheet:
    """The :class:`Worksheet` at ``path``. A ValueError (one line) when the file cannot be read, is
    not a grading worksheet, or has no grade column in a language checked here."""
    table = read_table(path, "the grading worksheet")
    if not looks_like_worksheet(table):
        raise IntakeError(f"{path} is not Moodle's grading worksheet (its first column does not hold "
                          f"'Participant <number>' on every row): download it with {SOURCE}")
    grade = table.column(GRADE)
    if grade is None:
        raise IntakeError(f"the grading worksheet {path} has no grade column the grader knows "
                          f"({', '.join(sorted(GRADE))}; its columns: {', '.join(table.header)}): download it "
                          "with Moodle's interface in English, French, German or Spanish")
    return Worksheet(path, table, grade, table.column(STATUS), table.column(TEAM), table.column(FULL_NAME),
                     table.column(MAXIMUM))


def decimal_comma(worksheet: Worksheet) -> bool:
    """True when the worksheet writes numbers with a decimal comma ("5,00": French, German, Spanish)."""
    if worksheet.maximum is None:
        return False
    return any("," in row[worksheet.maximum] and "." not in row[worksheet.maximum] for row in worksheet.table.rows)


def write_grades(worksheet: Worksheet, grades: dict[str, str], path: str | Path,
                 comments: dict[str, str] | None = None) -> None:
    """Write ``worksheet`` to ``path`` with ``grades`` (``{participant id: text}``) in its grade
    column and ``comments`` (the same) in its empty Feedback comments cells, when it has that
    column; every other cell, the header, the separator and a byte-order mark as the file had them."""
    rows, comment = [worksheet.table.header], worksheet.table.column(COMMENTS)
    for row in worksheet.table.rows:
        number = participant_id(row[0])
        row = list(row)
        if number in grades:
            row[worksheet.grade] = grades[number]
        if comment is not None and number in (comments or {}) and not row[comment].strip():
            row[comment] = comments[number]
        rows.append(row)
    write_table(path, rows, worksheet.table.delimiter, worksheet.table.bom)
