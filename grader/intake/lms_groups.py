"""Group work in Canvas and Moodle downloads: the group's notebook is graded once, under one
member's id, and the submission lists every member so that ``export`` gives each the grade.

- **Canvas**: for an assignment graded as a group, ``Assignment#representatives`` (canvas-lms
  ``app/models/assignment.rb``) picks one member per group and renames them to the group, so
  ``ContentZipper#get_user_name`` writes the group's name, squeezed, before the representative's
  user id. Who is in which group comes from the group set's export, ``GroupCategoriesController#export``
  (``app/controllers/group_categories_controller.rb``): a CSV with ``name``, ``canvas_user_id``,
  ``user_id`` (with SIS rights), ``login_id``, ``sections``, ``group_name``, then ``canvas_group_id``
  and ``group_id`` when the set has groups; a student in no group has an empty ``group_name``, and
  Canvas names their file after them: an individual submission. A file named after its student
  although the student is in a group is one of an assignment graded individually.
- **Moodle**: with "Students submit in groups", ``downloader.php`` (``get_student_prefix``) names
  a team's folder ``<group name>_<group id>`` and the one of the students in no group
  ``Default group`` (no id): Moodle keeps a single submission for all of them
  (``assign::get_group_submission`` with group 0), so it is graded once and each of them gets its
  grade, as for a team. Who is in which team comes from the grading worksheet's Group column
  (``gradingtable.php``, ``col_team``): the worksheet the instructor downloads anyway.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from grader.intake import moodle_worksheet
from grader.intake.base import IntakeError
from grader.tables import read_table

if TYPE_CHECKING:
    from grader.intake.lms import DownloadedFile  # (lms imports this module)

CANVAS_GROUPS_SOURCE = ("Canvas's export of the assignment's group set (People > the group set's tab > its menu > "
                        "Export: GET /api/v1/group_categories/<id>/export)")
# Moodle's clean_param(PARAM_FILE), which clean_filename applies to the folder's prefix.
MOODLE_UNSAFE = re.compile(r"[\x00-\x1f\x7f&<>\"`|':\\/]")


def squeeze(name: str) -> str:
    """A name as Canvas writes it in a file name: ``ContentZipper#sanitize_user_name`` (``_12_`` ->
    ``12``, lowercase) then ``sanitize_file_name`` (only word characters): "Team Falcon" -> "teamfalcon"."""
    return re.sub(r"\W", "", re.sub(r"_(\d+)_", r"\1", name).lower())


def read_canvas_groups(path: str | Path) -> dict[str, str]:
    """``{canvas user id: group name}`` for the students in a group (rows without a numeric user id
    are no student's), from Canvas's group set export. A ValueError (one line) for a file that is
    not one."""
    table = read_table(path, "the group set export")
    user, group = table.column({"canvas_user_id"}), table.column({"group_name"})
    if user is None or group is None:
        raise IntakeError(f"{path} is not Canvas's group set export (no canvas_user_id and group_name columns; its "
                          f"columns: {', '.join(table.header) or 'none'}): use {CANVAS_GROUPS_SOURCE}")
    return {row[user].strip(): row[group].strip() for row in table.rows
            if row[user].strip().isdigit() and row[group].strip()}


def canvas_groups(files: list[DownloadedFile], path: str | Path, notes: list[str]) -> list[DownloadedFile]:
    """``files`` with each group's file marked with the group and its members (see the module's docstring)."""
    membership = read_canvas_groups(path)
    members = {}
    for user_id, group in membership.items():
        members.setdefault(group, []).append(user_id)
    marked, told = [], set()
    for downloaded in files:
        group = membership.get(downloaded.student_id)
        if group and squeeze(group) == downloaded.name:
            together = tuple(sorted(members[group], key=int))
            downloaded = replace(downloaded, group=group, members=together)
            if group not in told:
                told.add(group)
                notes.append(f"group {group!r}: graded once as user {downloaded.student_id} "
                             f"({downloaded.source}); its grade goes to {', '.join(together)} (export)")
        marked.append(downloaded)
    if any(d.student_id.startswith("anon_") for d in files):
        notes.append(f"{path}: an anonymous download does not say who handed a file in, so no group can be given "
                     "its grade; each grade goes to the student behind the anonymous id")
    elif not told:
        notes.append(f"{path}: no file is named after one of its groups (Canvas names a group's file after the "
                     "group when the assignment is graded as a group): every file is graded for its student")
    return marked


def moodle_folder_name(name: str) -> str:
    """A group's name as it is in the name of its Moodle folder: ``clean_filename`` of the name
    with ``_`` made a space (``downloader.php``, ``get_student_prefix``)."""
    return MOODLE_UNSAFE.sub("", name.replace("_", " "))


def apply_worksheet(files: list[DownloadedFile], path: str | Path | None, refusals: list[tuple],
                    notes: list[str]) -> list[DownloadedFile]:
    """``files`` with Moodle's late flags and, when students submit in groups, each team's files
    under one member's participant id with the team's members; a refusal for a team the worksheet
    does not know. Without a worksheet, a default team's files are refused (nobody knows its members)."""
    if path is None:
        if files:
            notes.append("no grading worksheet (--worksheet): late flags unknown, and if students submit in groups, "
                         "each folder's number is its group's id, not a participant's: pass the worksheet")
        for downloaded in files:
            if not downloaded.student_id:
                refusals.append(("-", "-", None, f"{downloaded.source}: a submission of Moodle's default group "
                                                 "(students in no group); pass the assignment's grading worksheet "
                                                 "(--worksheet) so the grader knows who is in it; not graded"))
        return [downloaded for downloaded in files if downloaded.student_id]
    worksheet = moodle_worksheet.read_worksheet(path)
    if worksheet.teams() is None:
        return _late_flags(files, worksheet, refusals, notes)
    return _teams(files, worksheet, refusals, notes)


def _late_flags(files, worksheet, refusals, notes):
    """Individual submissions: each file gets its student's late flag from the worksheet."""
    lateness, flagged = worksheet.lateness(), []
    for downloaded in files:
        if not downloaded.student_id:
            refusals.append(("-", "-", None, f"{downloaded.source}: a submission of Moodle's default group, but the "
                                             "worksheet has no Group column (download it again); not graded"))
            continue
        if downloaded.student_id not in lateness:
            note = (f"student {downloaded.student_id} ({downloaded.name}) is not in the grading worksheet: "
                    "lateness unknown")
            notes.extend([note] if note not in notes else [])
        flagged.append(replace(downloaded, late=lateness.get(downloaded.student_id)))
    return flagged


def _teams(files, worksheet, refusals, notes):
    """Team submissions: each folder's files under its team's first participant, with the team's members."""
    lateness, members = worksheet.lateness(), {}
    for number, team in worksheet.teams().items():
        members.setdefault(team, []).append(number)
    by_folder = {moodle_folder_name(team): team for team in members}
    default = [team for team in members if team in moodle_worksheet.DEFAULT_TEAM]
    placed = []
    for downloaded in files:
        team = (default[0] if default else None) if not downloaded.student_id else by_folder.get(downloaded.name)
        if team is None:
            refusals.append((downloaded.student_id or "-", "-", None,
                             f"{downloaded.source}: group {downloaded.name!r} is in no row of the worksheet's Group "
                             "column, so its members are unknown; not graded"))
            continue
        together = tuple(sorted(members[team], key=int))
        placed.append(replace(downloaded, student_id=together[0], name=team, late=lateness.get(together[0]),
                              group=team, members=together))
        note = (f"group {team!r} ({downloaded.source.split('/')[0]}): graded once as participant {together[0]}; "
                f"its grade goes to {', '.join(together)} (export)")
        notes.extend([note] if note not in notes else [])
    return placed
