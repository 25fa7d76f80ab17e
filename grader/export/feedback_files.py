"""Feedback pages back to the students through the platform their notebooks came from.

**Moodle** (View all submissions > Grading action > "Upload multiple feedback files in a zip"):
``COURSE/feedback-moodle.zip`` holds each page under the student's folder of the download,
``<Full Name>_<participant id>_assignsubmission_file/01_mnist_cam.html``. Moodle's importer
(``mod/assign/feedback/file/importziplib.php``, ``assignfeedback_file_zip_importer::
is_valid_filename_for_import``) splits each folder name at its first four ``_`` and takes the
second part as the participant id, the third and fourth as the plugin (``assignsubmission``,
``file``); the file becomes that participant's feedback file. So the folder names are the
download's own (class.json records each submission's file in it, :mod:`grader.intake.lms`), which
Moodle wrote and reads back. A refused hand-in's page goes to the student's folder too (its
reason starts with the file's path in the download). A group's folder is named after the group
and its id, not a participant's: each member gets a folder ``Participant_<participant id>_
assignsubmission_file``, which the importer reads alike.

**Canvas** has no upload of many feedback files: ``COURSE/feedback-canvas/`` holds every page once
more, flat, named as Canvas named the student's file in the download, ``<name>_<user id>_<page>``
(``doejane_123_01_mnist_cam.html``), so an instructor attaching them one by one in SpeedGrader
picks the right one by name; README ("Feedback back to students") says how, and how through the
API.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

from grader.intake.lms import CANVAS_ENTRY, CANVAS_FILE, MOODLE_ENTRY

MOODLE_ZIP = "feedback-moodle.zip"
CANVAS_FOLDER = "feedback-canvas"
MOODLE_PLUGIN = ("assignsubmission", "file")   # the plugin whose folders the download has


def moodle_folder_matches(folder: str, student_id: str | int) -> bool:
    """Whether Moodle's importer reads ``folder`` as ``student_id``'s submission files: split at
    its first four ``_``, the second part is the participant id and the next two the plugin
    (importziplib.php, ``is_valid_filename_for_import``)."""
    parts = folder.split("_", 4)
    return len(parts) >= 4 and parts[1] == str(student_id) and tuple(parts[2:4]) == MOODLE_PLUGIN


def moodle_folder(download_path: str | None, student_id: str) -> str:
    """The folder of ``student_id`` in a Moodle download, from the path of one of their files
    (``download_path``): its first part when it is a folder, or the folder a flat file
    (``<Full Name>_<id>_assignsubmission_file_<file name>``) would have been in. A path Moodle's
    importer would not read as ``student_id``'s gives ``Participant_<id>_assignsubmission_file``."""
    first = (download_path or "").split("/", 1)[0]
    match = MOODLE_ENTRY.match(first)
    if match and match["student"] == str(student_id):
        folder = first if "/" in (download_path or "") else f"{match['name']}_{match['student']}_assignsubmission_file"
        if moodle_folder_matches(folder, student_id):
            return folder
    return f"Participant_{student_id}_assignsubmission_file"


def _pages(course_dir, student_id):
    """The feedback pages of ``student_id`` in ``COURSE/feedback/<id>/<notebook>/``."""
    folder = Path(course_dir) / "feedback" / student_id
    return sorted(folder.glob("*/*.html")) if folder.is_dir() else []


def moodle_members(entries: dict) -> dict[str, str]:
    """``{zip folder: student id}`` for every student of a Moodle class list ``entries``."""
    folders = {}
    for entry in entries.get("submissions", []):
        if entry.get("group") and entry.get("members"):
            for member in entry["members"]:
                folders.setdefault(f"Participant_{member}_assignsubmission_file", (member, entry["student_id"]))
        else:
            folders.setdefault(moodle_folder(entry.get("file", ""), entry["student_id"]),
                               (entry["student_id"], entry["student_id"]))
    for entry in entries.get("refusals", []):
        if str(entry.get("student_id", "")).isdigit():
            where = entry.get("file") or (entry.get("reason") or "").split(": ", 1)[0]
            folders.setdefault(moodle_folder(where, entry["student_id"]), (entry["student_id"], entry["student_id"]))
    return folders


def write_moodle_zip(course_dir: str | Path) -> tuple[Path, int] | None:
    """Write ``COURSE/feedback-moodle.zip`` from ``COURSE/class.json`` when the class came from a
    Moodle download; return its path and the number of pages in it, or None (another platform,
    no class list)."""
    course_dir = Path(course_dir)
    entries = _class_list(course_dir, "moodle")
    if entries is None:
        return None
    path, count = course_dir / MOODLE_ZIP, 0
    temporary = path.with_suffix(".zip.part")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, (member, graded_as) in sorted(moodle_members(entries).items()):
            for page in _pages(course_dir, graded_as):
                archive.write(page, f"{folder}/{page.name}")
                count += 1
    temporary.replace(path)
    return path, count


def _class_list(course_dir, lms):
    """``COURSE/class.json`` when its class came from ``lms``'s download, else None."""
    try:
        entries = json.loads((Path(course_dir) / "class.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entries if isinstance(entries, dict) and entries.get("lms") == lms else None


def canvas_name(download_path: str | None) -> str:
    """The name part Canvas gave a student's file (``doejane`` of ``doejane_LATE_123_4567_lab.ipynb``),
    "" when anonymous or unknown."""
    name = Path(download_path or "").name
    match = CANVAS_FILE.match(name) or CANVAS_ENTRY.match(name)
    return re.sub(r"\W", "", match["name"] or "") if match else ""


def write_canvas_files(course_dir: str | Path) -> tuple[Path, int] | None:
    """Fill ``COURSE/feedback-canvas/`` with every page of a class from a Canvas download, named
    ``<name>_<user id>_<page>``; return the folder and the number of pages, or None (another
    platform, no class list)."""
    entries = _class_list(course_dir, "canvas")
    if entries is None:
        return None
    students = {}   # student id -> (name in the download, the id their pages are under)
    for entry in entries.get("submissions", []) + entries.get("refusals", []):
        student_id = str(entry["student_id"])
        where = entry.get("file") or (entry.get("reason") or "").split(": ", 1)[0]
        students.setdefault(student_id, (canvas_name(where), student_id))
        for member in entry.get("members") or []:   # a group's page is under the member it was graded as
            students.setdefault(str(member), ("", student_id))
    folder = Path(course_dir) / CANVAS_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0
    for student_id, (name, graded_as) in sorted(students.items()):
        for page in _pages(course_dir, graded_as):
            shutil.copyfile(page, folder / "_".join(filter(None, (name, student_id, page.name))))
            count += 1
    return folder, count
