"""CSV files an instructor downloads from Canvas or Moodle and may have opened in a spreadsheet:
read with either separator, with or without a byte-order mark, and written back the same way.

Canvas writes its gradebook export with ``,`` or ``;`` (a user setting: canvas-lms
``lib/csv_with_i18n.rb``, ``determine_column_separator``) and with or without a byte-order mark
(``include_bom?``); its importer guesses the separator from the first three lines, taking ``;``
when it splits them into more fields consistently (``lib/gradebook_importer.rb``,
``identify_delimiter``). A spreadsheet saved in a European locale writes ``;`` too. This module
guesses the same way.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InputError
from helpers import write_atomically

SEPARATORS = (";", ",")


class TableError(InputError, ValueError):
    """A CSV file that cannot be read (missing, not UTF-8, not CSV); a ValueError too, as before."""


@dataclass
class Table:
    """A CSV file: its header (each name stripped), its rows (lists of text) and its separator."""

    header: list
    rows: list
    delimiter: str = ","
    bom: bool = False   # the file began with a byte-order mark

    def column(self, names: Collection[str]) -> int | None:
        """The index of the first header in ``names`` (a collection of accepted spellings), or None."""
        for index, name in enumerate(self.header):
            if name in names:
                return index
        return None


def guess_delimiter(text: str) -> str:
    """``";"`` or ``","`` for a CSV file's text, as Canvas's importer decides from its first three
    records: a separator counts when it splits each of them into the same number of fields, and
    ``;`` wins only with more fields than ``,``. (Records, not lines: a quoted cell may hold a
    line break, as a feedback comment in a Moodle worksheet does.)"""
    counts = {}
    for separator in SEPARATORS:
        try:
            sizes = {len(record) for record in itertools.islice(csv.reader(io.StringIO(text), delimiter=separator), 3)}
        except csv.Error:
            sizes = set()
        counts[separator] = sizes.pop() if len(sizes) == 1 else 0
    return ";" if counts[";"] > counts[","] else ","


def read_table(path: str | Path, what: str) -> Table:
    """The CSV file at ``path`` as a :class:`Table`. ``what`` names it in the :class:`TableError` raised
    for a file that is missing or not UTF-8 (both one-line reasons)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise TableError(f"cannot read {what} {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise TableError(f"{what} {path} is not a UTF-8 CSV file ({error}): save it as CSV UTF-8") from None
    bom = text.startswith("\ufeff")
    text = text[1:] if bom else text
    delimiter = guess_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as error:
        raise TableError(f"{what} {path} is not a CSV file ({error})") from None
    header = [name.strip() for name in rows[0]] if rows else []
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    return Table(header, [row + [""] * (len(header) - len(row)) for row in body], delimiter, bom)


def write_table(path: str | Path, rows: Iterable[Sequence[object]], delimiter: str = ",", bom: bool = False) -> Path:
    """Write ``rows`` to ``path`` atomically: UTF-8 (with a byte-order mark only when ``bom``),
    RFC 4180 quoting, CRLF line ends, the given separator."""
    def write(temporary):
        with open(temporary, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
            csv.writer(handle, delimiter=delimiter).writerows(rows)

    return write_atomically(path, write)
