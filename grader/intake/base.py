"""What the two readers of submissions share: the rows they find (:class:`Submission`, :class:`Refusal`)
and the extraction of a zip within limits (:func:`extract_zip`). :mod:`grader.intake.submissions`
(folders, and the entry point) and :mod:`grader.intake.lms` (Canvas and Moodle downloads) both build
on this module, which imports neither.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.errors import InputError
from grader.intake.notebook_file import MAX_NOTEBOOK_BYTES

MAX_ZIP_MEMBERS = 100_000   # files in one download: a MOOC's class hands in far fewer


class IntakeError(InputError, ValueError):
    """Submissions (or a file that describes them) the grader cannot read as given; the message says
    which and what to do. Also a ValueError, as the intake's errors were before :mod:`grader.errors`."""


@dataclass(frozen=True)
class Submission:
    student_id: str
    assignment: str
    path: Path
    late: object = None   # True or False when the LMS said so, None when nobody did
    source: str = ""      # where the file was in an LMS download ("" for the folder layouts)
    group: str = ""       # the group whose submission this is (grader.intake.lms_groups), "" for a student's own
    members: tuple = ()   # that group's members, this student included: export gives each the grade


@dataclass(frozen=True)
class Refusal:
    student_id: str
    assignment: str
    reason: str
    late: object = None


def extract_zip(zip_path: str | Path, destination: str | Path) -> Path:
    """Extract ``zip_path`` into ``destination``, refusing members that would land outside it.

    A name stored as UTF-8 without the zip's UTF-8 flag (some zip tools) is read as UTF-8.
    """
    destination = Path(destination).resolve()
    with zipfile.ZipFile(zip_path) as archive:
        members = archive.infolist()
        for member in members:
            if not member.flag_bits & 0x800:
                try:
                    member.filename = member.filename.encode("cp437").decode("utf-8")
                except UnicodeError:
                    pass
            target = (destination / member.filename).resolve()
            if destination not in target.parents and target != destination:
                raise IntakeError(f"{zip_path}: member {member.filename!r} points outside the archive")
        if len(members) > MAX_ZIP_MEMBERS:
            raise IntakeError(f"{zip_path}: {len(members):,} files, more than the {MAX_ZIP_MEMBERS:,} a class "
                              "may hand in")
        for member in members:
            if member.file_size > MAX_NOTEBOOK_BYTES and not member.is_dir():
                _sparse_stand_in(destination, member)
            else:
                archive.extract(member, destination)
    return destination


def _sparse_stand_in(destination, member):
    """A member larger than any notebook may be (a zip bomb declares terabytes) is not extracted:
    a sparse file of its declared size stands in for it, so it becomes a row that says its size
    (:mod:`grader.intake.notebook_file` refuses it from a stat), and no byte of it reaches the disk."""
    target = destination / member.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        handle.truncate(member.file_size)
