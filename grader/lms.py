"""Submissions as Canvas and Moodle hand them out: their bulk downloads, read as they come.

- **Canvas** (Assignment > Download Submissions): one flat zip of files named
  ``<name>_<user id>_<file id>_<file name>``, where ``<name>`` is the student's sortable name
  with everything but letters and digits removed, lowercased (``doejane``, ``müllerzoë``);
  ``_LATE`` (or ``_late``) follows the name when Canvas counts the submission late, and a file
  handed in again under the same name gets ``-1``, ``-2`` (``01_mnist_cam-1.ipynb``). The
  student id is the **Canvas user id** (the ``ID`` column of Canvas' gradebook export): the
  name part is neither stable (it changes with the name) nor unique (two Jane Does).
- **Moodle** (Assignment > View all submissions > Download all submissions): a zip of folders
  ``<Full Name>_<participant id>_assignsubmission_file_/`` holding each student's files (or, with
  "Download submissions in folders" off, flat files ``<Full Name>_<participant id>_assignsubmission_file_<file name>``).
  The student id is the **participant id**: Moodle's number for that student in that assignment,
  the one its grading worksheet lists as ``Participant <id>`` and reads back on upload.

Which notebook a file is: its cells' nbgrader ids (``grade_id``, kept in every copy a student
makes of the notebook) or, when they are gone, its title heading, compared with each solution
notebook; only when its content says nothing, its file name without the platform's ``-1`` or
`` (1)`` suffix. So ``jdoe_123_456_MyHomework-1.ipynb`` is graded as 01 when it is 01.

Several files of one student for one notebook: the newest is graded, the others are listed in
a note. Canvas: the highest file id (Canvas numbers uploads in order; the ``-N`` suffix breaks
a tie). Moodle: the latest modification time recorded in the zip (then the higher `` (N)`` or
``-N`` suffix, then the name).

Late: Canvas marks it in the name; Moodle's download does not say, so late flags come from the
assignment's grading worksheet (``--worksheet``: its ``Status`` reads "... late" for a late
submission; English interface). Without one a Moodle submission's lateness is unknown (None).

Anything that cannot be placed becomes a :class:`~grader.submissions.Refusal` with its reason:
a file whose name the platform did not write (student ``-``), a file that is not a notebook of
this course (notebook ``-``), every file of an id that two differently named students claim.
Content is read only through :mod:`grader.notebook_file`: a malformed file (too large, not
UTF-8, not JSON, nested too deep, wrong JSON types, too many cells) is one such reason, or, when
its name says which notebook it is, a submission that gets an "invalid" row with the reason.
"""

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from grader import notebook_file
from grader.course import SOLUTIONS_DIR

LAYOUTS = ("canvas", "moodle", "folders")

# <name>[_LATE]_<user id>_<file id>_<file name>; the name is empty for anonymous grading.
CANVAS_FILE = re.compile(r"^(?:(?P<name>.*?)_)??(?:(?P<late>late)_)?(?P<student>\d+)_(?P<order>\d+)_(?P<file>.+)$",
                         re.IGNORECASE)
# A text entry or a URL: <name>[_LATE]_<user id>_text.html / _link.html.
CANVAS_ENTRY = re.compile(r"^(?:(?P<name>.*?)_)??(?:(?P<late>late)_)?(?P<student>\d+)_(?P<file>text|link)\.html$",
                          re.IGNORECASE)
# <Full Name>_<participant id>_assignsubmission_<plugin>_[<file name>]
MOODLE_ENTRY = re.compile(r"^(?P<name>.*)_(?P<student>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_(?P<file>.*)$")
# The suffix a platform adds to a file name it already has: "-1" (Canvas), " (1)" (Moodle's file picker).
COPY_SUFFIX = re.compile(r"^(?P<base>.*?)(?:-(?P<dash>\d+)| \((?P<paren>\d+)\))$")

CANVAS_NAME_FORM = "<name>_<user id>_<file id>_<file name>"
MOODLE_NAME_FORM = "<Full Name>_<participant id>_assignsubmission_file_"


@dataclass
class DownloadedFile:
    """One file of a download, with what its name says."""

    student_id: str
    name: str            # the student's name as the platform wrote it ("" when anonymous)
    path: Path
    source: str          # its path inside the download
    late: object         # True, False, or None (unknown)
    order: tuple         # newest-wins key: a higher one is newer


def _visible(folder):
    return [path for path in sorted(Path(folder).iterdir()) if not path.name.startswith((".", "__MACOSX"))]


def _looks_like_download(path):
    return bool(MOODLE_ENTRY.match(path.name)) or (
        path.is_file() and bool(CANVAS_FILE.match(path.name) or CANVAS_ENTRY.match(path.name)))


def download_root(root):
    """``root``, or its lone sub-folder when the download was unpacked or zipped inside one."""
    visible = _visible(root)
    if len(visible) == 1 and visible[0].is_dir() and not MOODLE_ENTRY.match(visible[0].name):
        if any(_looks_like_download(path) for path in _visible(visible[0])):
            return visible[0]
    return Path(root)


def detect_layout(root):
    """``"canvas"``, ``"moodle"`` or ``"folders"`` (``<student_id>/<notebook>.ipynb``) for the
    folder ``root``; a ValueError when it holds entries of more than one kind."""
    root = download_root(root)
    entries = _visible(root)
    moodle = [path.name for path in entries if MOODLE_ENTRY.match(path.name)]
    canvas = [path.name for path in entries if path.is_file() and not MOODLE_ENTRY.match(path.name)
              and (CANVAS_FILE.match(path.name) or CANVAS_ENTRY.match(path.name))]
    folders = [path.name + "/" for path in entries if path.is_dir() and not MOODLE_ENTRY.match(path.name)]
    kinds = {"canvas": canvas, "moodle": moodle, "folders": folders}
    present = [kind for kind, names in kinds.items() if names]
    if len(present) > 1:
        examples = "; ".join(f"{kind} ({', '.join(kinds[kind][:2])})" for kind in present)
        raise ValueError(f"cannot tell which kind of submissions these are, they mix several: {examples}; "
                         "pass --lms canvas, --lms moodle or --lms folders")
    return present[0] if present else "folders"


def _copy_number(stem):
    """``(stem without the platform's copy suffix, its number)``: ``"01_mnist_cam-1"`` -> ``("01_mnist_cam", 1)``."""
    match = COPY_SUFFIX.match(stem)
    if not match:
        return stem, 0
    return match["base"], int(match["dash"] or match["paren"])


def notebook_signatures(assignments, solutions_dir=SOLUTIONS_DIR):
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


def recognize(path, file_name, signatures):
    """``(assignment, how)`` for the file at ``path`` (called ``file_name`` by the student), or
    ``(None, why)``. ``how`` is "cells", "title" or "name"; content goes first, so a renamed
    notebook is still recognized. The content is read by :func:`grader.notebook_file.load`, so a
    malformed file is never more than a reason."""
    try:
        cells, problem = notebook_file.load(path)["cells"], None
    except notebook_file.NotANotebook as error:   # too large, not UTF-8, not JSON, wrong types...
        cells, problem = None, str(error)
    is_notebook_name = file_name.lower().endswith(".ipynb")
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
    if is_notebook_name:
        base, _ = _copy_number(file_name[:-len(".ipynb")])
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
    files = []
    for path in _visible(root):
        if path.is_dir():
            refusals.append(("-", "-", None, f"{path.name}/: a folder; a Canvas download holds only files "
                                             f"named {CANVAS_NAME_FORM}"))
            continue
        match = CANVAS_FILE.match(path.name) or CANVAS_ENTRY.match(path.name)
        if not match:
            refusals.append(("-", "-", None, f"{path.name}: not named as Canvas names submission files "
                                             f"({CANVAS_NAME_FORM}), so it belongs to no student"))
            continue
        order = (int(match["order"]) if "order" in match.groupdict() else 0,
                 _copy_number(Path(match["file"]).stem)[1], path.name)
        file_name = match["file"] if match.re is CANVAS_FILE else path.name
        files.append((DownloadedFile(match["student"], match["name"] or "", path, path.name, bool(match["late"]),
                                     order), file_name))
    return files


def _moodle_files(root, refusals, lateness):
    files = []
    for entry in _visible(root):
        match = MOODLE_ENTRY.match(entry.name)
        if not match:
            kind = "folder" if entry.is_dir() else "file"
            refusals.append(("-", "-", None, f"{entry.name}{'/' if entry.is_dir() else ''}: a {kind} not named as "
                                             f"Moodle names submissions ({MOODLE_NAME_FORM}), so it belongs to no student"))
            continue
        student_id = match["student"]
        if entry.is_dir():
            paths = [p for p in sorted(entry.rglob("*")) if p.is_file()
                     and not any(part.startswith((".", "__MACOSX")) for part in p.relative_to(entry).parts)]
            named = [(p, p.name, f"{entry.name}/{p.relative_to(entry).as_posix()}") for p in paths]
            if not paths:
                refusals.append((student_id, "-", lateness.get(student_id), f"{entry.name}/: an empty folder"))
        else:
            named = [(entry, match["file"], entry.name)]
        for path, file_name, source in named:
            order = (path.stat().st_mtime, _copy_number(Path(file_name).stem)[1], source)
            files.append((DownloadedFile(student_id, match["name"], path, source, lateness.get(student_id), order),
                          file_name))
    return files


def moodle_lateness(worksheet):
    """``{participant id: late}`` from Moodle's grading worksheet (a CSV with ``Identifier`` =
    "Participant 12345" and ``Status``, which holds "... late" for a late submission). Raises
    ValueError for a file that is not such a worksheet."""
    try:
        with open(worksheet, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"cannot read the grading worksheet {worksheet}: {error}") from None
    if not rows or "Identifier" not in rows[0] or "Status" not in rows[0]:
        raise ValueError(f"{worksheet} is not Moodle's grading worksheet (no Identifier and Status columns): "
                         "download it with View all submissions > Grading action > Download grading worksheet, "
                         "with Moodle's interface in English")
    lateness = {}
    for row in rows:
        number = re.search(r"(\d+)\s*$", row["Identifier"] or "")
        if number:
            parts = [part.strip() for part in (row["Status"] or "").split(" - ")]
            lateness[number[1]] = any(part.endswith(" late") for part in parts)
    return lateness


def find_lms_submissions(root, lms, known_assignments, worksheet=None, solutions_dir=SOLUTIONS_DIR):
    """``(submissions, refusals, notes)`` for a Canvas or Moodle download unpacked in ``root``
    (see the module's docstring)."""
    from grader.submissions import Refusal, Submission   # (ids here are digits: always valid student ids)

    if lms not in ("canvas", "moodle"):
        raise ValueError(f"unknown platform {lms!r}: canvas or moodle")
    if worksheet is not None and lms != "moodle":
        raise ValueError("--worksheet is Moodle's grading worksheet; this is a Canvas download")
    root = download_root(root)
    signatures = notebook_signatures(known_assignments, solutions_dir)
    placed_refusals, notes = [], []
    lateness = moodle_lateness(worksheet) if worksheet is not None else {}
    files = _canvas_files(root, placed_refusals) if lms == "canvas" else _moodle_files(root, placed_refusals, lateness)
    refusals = [Refusal(student_id, notebook, reason, late=late) for student_id, notebook, late, reason in placed_refusals]

    names = {}
    for downloaded, _ in files:
        names.setdefault(downloaded.student_id, set()).add(downloaded.name)
    candidates = {}
    for downloaded, file_name in files:
        assignment, how = recognize(downloaded.path, file_name, signatures)
        student_id = downloaded.student_id
        if len(names[student_id]) > 1:
            claimants = ", ".join(repr(name) for name in sorted(names[student_id]))
            refusals.append(Refusal(student_id, assignment or "-", f"{downloaded.source}: two students with the same "
                                    f"id {student_id} ({claimants}); the grader cannot tell whose it is",
                                    late=downloaded.late))
        elif assignment is None:
            refusals.append(Refusal(student_id, "-", f"{downloaded.source}: {how}; not graded", late=downloaded.late))
        else:
            if how != "name" and _copy_number(Path(file_name).stem)[0] != assignment:
                notes.append(f"{downloaded.source}: recognized as {assignment} by its {how}")
            candidates.setdefault((student_id, assignment), []).append(downloaded)

    submissions = []
    for (student_id, assignment), found in sorted(candidates.items()):
        found.sort(key=lambda downloaded: downloaded.order)
        newest = found[-1]
        if len(found) > 1:
            older = ", ".join(downloaded.source for downloaded in found[:-1])
            notes.append(f"student {student_id}, {assignment}: graded {newest.source}, the newest of {len(found)} "
                         f"files (not graded: {older})")
        if lms == "moodle" and worksheet is not None and student_id not in lateness:
            notes.append(f"student {student_id} ({newest.name}) is not in the grading worksheet: lateness unknown")
        submissions.append(Submission(student_id, assignment, newest.path, late=newest.late, source=newest.source))
    refusals.sort(key=lambda refusal: (refusal.student_id, refusal.assignment, refusal.reason))
    return submissions, refusals, notes
