"""Submissions as Canvas and Moodle hand them out: their bulk downloads, read as they come.

- **Canvas** (Assignment > Download Submissions): one flat zip. canvas-lms ``lib/content_zipper.rb``
  names each file ``ContentZipper#get_filename`` + ``_<attachment id>_<file name>``
  (``add_upload_submission``), where ``get_filename`` joins ``[name, "LATE", id]`` with ``_`` and
  drops every non-word character: ``doejane_LATE_123_4567_01_mnist_cam.ipynb``. ``name`` is the
  student's sortable name squeezed and lowercased (``get_user_name``), or the group's name for a
  group assignment, whose one file per group sits under a representative's user id
  (``Assignment#representatives``). With anonymous grading there is no name and the id is
  ``anon_<anonymous id>`` (5 base58 characters, ``lib/anonymity.rb``):
  ``LATE_anon_Kq7Zp_78002_01_mnist_cam.ipynb``. A text entry or a URL is
  ``<prefix>_text.html`` / ``<prefix>_link.html`` (``add_text_or_url``). The student id is the
  **Canvas user id** (the ``ID`` column of the gradebook export), or ``anon_<id>``.
- **Moodle** (View all submissions > Download all submissions): ``mod/assign/classes/downloader.php``
  (``get_student_prefix``, ``load_submissionplugin_filelist``) makes a folder
  ``<Full Name>_<participant id>_assignsubmission_file/`` per student (Moodle 4.1 and later;
  up to 4.0 the folder ended in ``_file_/``), or, with "Download submissions in folders" off, flat
  files ``<Full Name>_<participant id>_assignsubmission_file_<file name>``. Blind marking writes
  "Participant" for the name. When students submit in groups, the prefix is
  ``<group name>_<group id>`` and ``Default group`` (no id) for students in no group. The student
  id is the **participant id**: the number the grading worksheet lists as ``Participant <id>``.

Which notebook a file is: its cells' nbgrader ids (``grade_id``, kept in every copy a student
makes) or, when they are gone, its title heading, compared with each solution notebook; only when
its content says nothing, its file name without the platform's ``-1`` or `` (1)`` suffix. Both
platforms' downloads hold only each student's current attempt, so no timestamp decides anything:
two files of one submission that are the same notebook are a refused row naming both, and the
instructor decides. A zip inside a submission is opened (one level) and its files are the
submission's. Group submissions (:mod:`grader.intake.lms_groups`) are graded once, under one member's id,
and list their members for ``export``.

Late: Canvas marks it in the name; Moodle's download does not say, so late flags come from the
grading worksheet (``--worksheet``, :mod:`grader.intake.moodle_worksheet`). Without one a Moodle
submission's lateness is unknown (None).

Anything that cannot be placed becomes a :class:`~grader.intake.base.Refusal` with its reason.
Content is read only through :mod:`grader.intake.notebook_file`: a malformed file is one such reason, or,
when its name says which notebook it is, a submission that gets an "invalid" row with the reason.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from grader.course import SOLUTIONS_DIR
from grader.intake import lms_groups, notebook_file
from grader.intake.base import IntakeError, Refusal, Submission, extract_zip

LAYOUTS = ("canvas", "moodle", "folders")

# ContentZipper#get_filename: [name, "LATE", user id | "anon_<anonymous id>"] joined with "_".
CANVAS_ID = r"(?P<student>\d+|anon_[1-9A-HJ-NP-Za-km-z]{5})"
CANVAS_FILE = re.compile(rf"^(?:(?P<name>.*?)_)??(?:(?P<late>LATE)_)?{CANVAS_ID}_(?P<file_id>\d+)_(?P<file>.+)$")
CANVAS_ENTRY = re.compile(rf"^(?:(?P<name>.*?)_)??(?:(?P<late>LATE)_)?{CANVAS_ID}_(?P<file>text|link)\.html$")
# downloader.php: <prefix>_assignsubmission_<plugin>[/ or _<file name>]; the prefix ends in _<id>
# except for the default team.
MOODLE_ENTRY = re.compile(r"^(?P<name>.*)_(?P<student>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<file>.*))?$")
MOODLE_DEFAULT_TEAM = re.compile(r"^(?P<name>[^_]+)_assignsubmission_(?P<plugin>[a-z0-9]+)(?:_(?P<file>.*))?$")
# The suffix a platform adds to a file name it already has: "-1" (Canvas), " (1)" (Moodle's file picker).
COPY_SUFFIX = re.compile(r"^(?P<base>.*?)(?:-\d+| \(\d+\))$")

CANVAS_NAME_FORM = "<name>_<user id>_<file id>_<file name>"
MOODLE_NAME_FORM = "<Full Name>_<participant id>_assignsubmission_file"


@dataclass
class DownloadedFile:
    """One file of a download, with what its name says."""

    student_id: str      # Canvas user id or anon_<id>; Moodle participant id (a group id or "" in team mode)
    name: str            # the name part of the file or folder ("" when anonymous)
    path: Path
    source: str          # its path inside the download
    file_name: str       # the file's name as the student gave it
    late: object = None  # True, False, or None (unknown)
    group: str = ""      # the group whose submission this is
    members: tuple = ()  # the group's members (student ids), the graded one included


def _visible(folder):
    return [path for path in sorted(Path(folder).iterdir()) if not path.name.startswith((".", "__MACOSX"))]


def moodle_match(path: Path) -> re.Match | None:
    """The name match of a Moodle download entry (a student's or team's folder or flat file), or None.
    A folder ends in ``_file`` (4.1+) or ``_file_`` (up to 4.0); a flat file goes on with its name."""
    match = MOODLE_ENTRY.match(path.name) or MOODLE_DEFAULT_TEAM.match(path.name)
    if match is None or path.is_dir() != (not match["file"]):
        return None
    return match


def canvas_match(path: Path) -> re.Match | None:
    """The name match of a Canvas download file, or None."""
    return (CANVAS_FILE.match(path.name) or CANVAS_ENTRY.match(path.name)) if path.is_file() else None


def download_root(root: str | Path) -> Path:
    """``root``, or its lone sub-folder when the download was unpacked or zipped inside one."""
    visible = _visible(root)
    if len(visible) == 1 and visible[0].is_dir() and not moodle_match(visible[0]):
        if any(moodle_match(path) or canvas_match(path) for path in _visible(visible[0])):
            return visible[0]
    return Path(root)


def detect_layout(root: str | Path) -> str:
    """``"canvas"``, ``"moodle"`` or ``"folders"`` (``<student_id>/<notebook>.ipynb``) for the
    folder ``root``; a ValueError when it holds entries of more than one kind."""
    entries = _visible(download_root(root))
    moodle = [path.name for path in entries if moodle_match(path)]
    canvas = [path.name for path in entries if canvas_match(path) and not moodle_match(path)]
    folders = [path.name + "/" for path in entries if path.is_dir() and not moodle_match(path)]
    kinds = {"canvas": canvas, "moodle": moodle, "folders": folders}
    present = [kind for kind, names in kinds.items() if names]
    if len(present) > 1:
        examples = "; ".join(f"{kind} ({', '.join(kinds[kind][:2])})" for kind in present)
        raise IntakeError(f"cannot tell which kind of submissions these are, they mix several: {examples}; "
                          "pass --lms canvas, --lms moodle or --lms folders")
    return present[0] if present else "folders"


def base_name(stem: str) -> str:
    """``stem`` without the platform's copy suffix: ``"01_mnist_cam-1"`` -> ``"01_mnist_cam"``."""
    match = COPY_SUFFIX.match(stem)
    return match["base"] if match else stem


def notebook_signatures(assignments: Iterable[str],
                        solutions_dir: str | Path = SOLUTIONS_DIR) -> dict[str, tuple[set[str], str | None]]:
    """``{assignment: (its nbgrader cell ids, its title heading)}`` from the solution notebooks."""
    signatures = {}
    for assignment in sorted(assignments):
        try:
            cells = json.loads((Path(solutions_dir) / f"{assignment}.ipynb").read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            signatures[assignment] = (set(), None)
            continue
        signatures[assignment] = (_grade_ids(cells), _title(cells))
    return signatures


def _grade_ids(cells):
    return {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in cells
            if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict)} - {None}


def _title(cells):
    """The first line of the first markdown cell when it is a heading (``# 01 · ...``), else None."""
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            first = text.strip().splitlines()[0].strip() if text.strip() else ""
            return first if first.startswith("#") else None
    return None


def recognize(path: Path, file_name: str,
              signatures: dict[str, tuple[set[str], str | None]]) -> tuple[str | None, str]:
    """``(assignment, how)`` for the file at ``path`` (called ``file_name`` by the student), or
    ``(None, why)``. ``how`` is "cells", "title" or "name"; content goes first, so a renamed
    notebook is still recognized. The content is read by :func:`grader.intake.notebook_file.load`, so a
    malformed file is never more than a reason."""
    try:
        cells, problem = notebook_file.load(path)["cells"], None
    except notebook_file.NotANotebook as error:   # too large, not UTF-8, not JSON, wrong types...
        cells, problem = None, str(error)
    if cells is not None:
        ids = _grade_ids(cells)
        overlaps = {a: len(ids & grade_ids) for a, (grade_ids, _) in signatures.items()}
        best = max(overlaps.values(), default=0)
        if best and list(overlaps.values()).count(best) == 1:
            return max(overlaps, key=overlaps.get), "cells"
        title = _title(cells)
        by_title = [a for a, (_, solution_title) in signatures.items() if title and title == solution_title]
        if len(by_title) == 1:
            return by_title[0], "title"
    if file_name.lower().endswith(".ipynb"):
        base = base_name(file_name[:-len(".ipynb")])
        if base in signatures:
            return base, "name"   # and graded: an unreadable one gets an "invalid" row that says why
        if problem:
            return None, f"not a valid notebook ({problem})"
        return None, ("a notebook of no assignment of this course (neither its cells, its title nor its name "
                      f"match one of {', '.join(sorted(signatures))})")
    if cells is not None:
        return None, "a notebook of no assignment of this course"
    return None, "not a notebook"


def _canvas_files(root, refusals):
    """The files of a Canvas download; a refusal for each entry Canvas did not name."""
    files = []
    for path in _visible(root):
        match = canvas_match(path)
        if match is None:
            what = "a folder; a Canvas download holds only files" if path.is_dir() else \
                "not named as Canvas names submission files"
            refusals.append(("-", "-", None, f"{path.name}{'/' if path.is_dir() else ''}: {what} "
                                             f"({CANVAS_NAME_FORM}), so it belongs to no student"))
            continue
        file_name = match["file"] if match.re is CANVAS_FILE else path.name
        files.append(DownloadedFile(match["student"], match["name"] or "", path, path.name, file_name,
                                    bool(match["late"])))
    return _without_claimed_ids(files, refusals)


def _without_claimed_ids(files, refusals):
    """``files`` without those whose name could be read as another student's: Canvas writes a
    group's name (chosen by students) into the file name as it is, so ``roemallory_777_1_888_5002_…``
    reads as user 777's. A file whose own name part could hold another user id and file id
    (``<name>_<id>_<id>_…`` after the first) is refused when the id it is read as has other
    files under another name; what a student named plainly is never doubted."""
    plain_names = {}
    for downloaded in files:
        if not _could_be_read_otherwise(downloaded):
            plain_names.setdefault(downloaded.student_id, set()).add(downloaded.name)
    kept = []
    for downloaded in files:
        others = plain_names.get(downloaded.student_id, set()) - {downloaded.name}
        if _could_be_read_otherwise(downloaded) and others:
            refusals.append(("-", "-", downloaded.late, f"{downloaded.source}: its name reads as user "
                             f"{downloaded.student_id}'s, whose other files are named {sorted(others)[0]!r}, but it "
                             "could also be another user's; not graded (rename it as Canvas names files and grade "
                             "again)"))
            continue
        kept.append(downloaded)
    return kept


def _could_be_read_otherwise(downloaded):
    """Whether the file name after the id Canvas's name gives could itself start a Canvas name."""
    return downloaded.source != downloaded.file_name and bool(CANVAS_FILE.match(downloaded.file_name))


def _moodle_files(root, refusals):
    """The files of a Moodle download (each folder's files, or the flat files); a refusal for
    each entry Moodle did not name and each empty folder."""
    files = []
    for entry in _visible(root):
        match = moodle_match(entry)
        if match is None:
            kind = "folder" if entry.is_dir() else "file"
            refusals.append(("-", "-", None, f"{entry.name}{'/' if entry.is_dir() else ''}: a {kind} not named as "
                                             f"Moodle names submissions ({MOODLE_NAME_FORM}), so it belongs to no "
                                             "student"))
            continue
        student_id = match.groupdict().get("student") or ""
        if entry.is_dir():
            paths = [p for p in sorted(entry.rglob("*")) if p.is_file()
                     and not any(part.startswith((".", "__MACOSX")) for part in p.relative_to(entry).parts)]
            files += [DownloadedFile(student_id, match["name"], p, f"{entry.name}/{p.relative_to(entry).as_posix()}",
                                     p.name) for p in paths]
            if not paths:
                refusals.append((student_id or "-", "-", None, f"{entry.name}/: an empty folder"))
        else:
            files.append(DownloadedFile(student_id, match["name"], entry, entry.name, match["file"]))
    return files


def open_archives(files: list[DownloadedFile], refusals: list[tuple], scratch: str | Path) -> list[DownloadedFile]:
    """``files`` with each zip replaced by the files inside it (one level, extracted into
    ``scratch`` with :func:`grader.intake.base.extract_zip`'s limits); an unreadable zip is a refusal."""
    opened = []
    for number, downloaded in enumerate(files):
        if not (downloaded.file_name.lower().endswith(".zip") and zipfile.is_zipfile(downloaded.path)):
            opened.append(downloaded)
            continue
        folder = Path(scratch) / str(number)
        try:
            extract_zip(downloaded.path, folder)
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
            refusals.append((downloaded.student_id or "-", "-", downloaded.late,
                             f"{downloaded.source}: a zip that cannot be opened ({error}); not graded"))
            continue
        inner = [p for p in sorted(folder.rglob("*")) if p.is_file()
                 and not any(part.startswith((".", "__MACOSX")) for part in p.relative_to(folder).parts)]
        opened += [replace(downloaded, path=p, file_name=p.name,
                           source=f"{downloaded.source}/{p.relative_to(folder).as_posix()}") for p in inner]
        if not inner:
            refusals.append((downloaded.student_id or "-", "-", downloaded.late, f"{downloaded.source}: an empty zip"))
    return opened


def _claimed_twice(files):
    """The student ids that files with different names claim (two Jane Does' ids cannot be told
    apart), and ids that differ only in case (anonymous ids: they collide on a case-insensitive disk)."""
    names, folded = {}, {}
    for downloaded in files:
        names.setdefault(downloaded.student_id, set()).add(downloaded.name)
        folded.setdefault(downloaded.student_id.casefold(), set()).add(downloaded.student_id)
    twice = {student: f"two students with the same id {student} ({', '.join(map(repr, sorted(claimants)))}); "
                      "the grader cannot tell whose it is"
             for student, claimants in names.items() if len(claimants) > 1}
    for ids in folded.values():
        for student in ids if len(ids) > 1 else ():
            twice.setdefault(student, f"ids {', '.join(sorted(ids))} differ only in case; the grader cannot keep "
                                      "them apart on every disk")
    return twice


def choose(candidates: dict[tuple[str, str], list[tuple[DownloadedFile, str]]],
           notes: list[str]) -> tuple[list[Submission], list[Refusal]]:
    """``(submissions, refusals)`` from ``{(student, assignment): [(file, how)]}``: one file is
    graded; two or more of one submission are a refused row naming them all."""
    submissions, refusals = [], []
    for (student_id, assignment), found in sorted(candidates.items()):
        first = found[0][0]
        if len(found) > 1:
            names = " and ".join(downloaded.source for downloaded, _ in found)
            refusals.append(Refusal(student_id, assignment, f"{len(found)} files are {assignment} in one submission: "
                                    f"{names}; the grader cannot tell which to grade: remove the others from the "
                                    "download and run again", late=first.late))
            continue
        if found[0][1] != "name" and base_name(Path(first.file_name).stem) != assignment:
            notes.append(f"{first.source}: recognized as {assignment} by its {found[0][1]}")
        submissions.append(Submission(student_id, assignment, first.path, late=first.late, source=first.source,
                                      group=first.group, members=first.members))
    return submissions, refusals


def _files(root, lms, worksheet, groups, refusals, notes):
    """The downloaded files of ``root``, nested zips opened, late flags and groups applied."""
    files = _canvas_files(root, refusals) if lms == "canvas" else _moodle_files(root, refusals)
    scratch = tempfile.mkdtemp(prefix="grader-nested-")   # zips inside the download, opened
    atexit.register(shutil.rmtree, scratch, True)
    files = open_archives(files, refusals, scratch)
    if lms == "canvas":
        return lms_groups.canvas_groups(files, groups, notes) if groups is not None else files
    return lms_groups.apply_worksheet(files, worksheet, refusals, notes)


def find_lms_submissions(root: str | Path, lms: str, known_assignments: Iterable[str],
                         worksheet: str | Path | None = None, groups: str | Path | None = None,
                         solutions_dir: str | Path = SOLUTIONS_DIR
                         ) -> tuple[list[Submission], list[Refusal], list[str]]:
    """``(submissions, refusals, notes)`` for a Canvas or Moodle download unpacked in ``root`` (see
    the module's docstring). ``worksheet`` is Moodle's grading worksheet (late flags, teams);
    ``groups`` Canvas's export of the assignment's group set."""
    if lms not in ("canvas", "moodle"):
        raise IntakeError(f"unknown platform {lms!r}: canvas or moodle")
    if worksheet is not None and lms != "moodle":
        raise IntakeError("--worksheet is Moodle's grading worksheet; this is a Canvas download")
    if groups is not None and lms != "canvas":
        raise IntakeError("--groups is Canvas's group set export; this is a Moodle download (its teams come from "
                          "the grading worksheet, --worksheet)")
    placed, notes = [], []
    files = _files(download_root(root), lms, worksheet, groups, placed, notes)
    refusals = [Refusal(student_id, notebook, reason, late=late) for student_id, notebook, late, reason in placed]
    signatures, twice, candidates = notebook_signatures(known_assignments, solutions_dir), _claimed_twice(files), {}
    for downloaded in files:
        assignment, how = recognize(downloaded.path, downloaded.file_name, signatures)
        if downloaded.student_id in twice:
            refusals.append(Refusal(downloaded.student_id, assignment or "-",
                                    f"{downloaded.source}: {twice[downloaded.student_id]}", late=downloaded.late))
        elif assignment is None:
            refusals.append(Refusal(downloaded.student_id, "-", f"{downloaded.source}: {how}; not graded",
                                    late=downloaded.late))
        else:
            candidates.setdefault((downloaded.student_id, assignment), []).append((downloaded, how))
    submissions, more = choose(candidates, notes)
    refusals = sorted(refusals + more, key=lambda refusal: (refusal.student_id, refusal.assignment, refusal.reason))
    return submissions, refusals, notes
