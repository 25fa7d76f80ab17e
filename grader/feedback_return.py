"""Feedback pages back to the students through the platform their notebooks came from.

**Moodle** (View all submissions > Grading action > "Upload multiple feedback files in a zip"):
``COURSE/feedback-moodle.zip`` holds each page under the student's folder of the download,
``<Full Name>_<participant id>_assignsubmission_file/01_mnist_cam.html``. Moodle's importer
(``mod/assign/feedback/file/importziplib.php``, ``assignfeedback_file_zip_importer::
is_valid_filename_for_import``) splits each folder name at its first four ``_`` and takes the
second part as the participant id, the third and fourth as the plugin (``assignsubmission``,
``file``); the file becomes that participant's feedback file. So the folder names are the
download's own (class.json records each submission's file in it, :mod:`grader.lms`), which
Moodle wrote and reads back. A refused hand-in's page goes to the student's folder too (its
reason starts with the file's path in the download). A group's folder is named after the group
and its id, not a participant's: each member gets a folder ``Participant_<participant id>_
assignsubmission_file``, which the importer reads alike.

**Canvas** has no upload of many feedback files; README ("Feedback back to students") says how
to attach the pages of ``COURSE/feedback/<user id>/``.
"""

import json
import zipfile
from pathlib import Path

from grader.lms import MOODLE_ENTRY

MOODLE_ZIP = "feedback-moodle.zip"
MOODLE_PLUGIN = ("assignsubmission", "file")   # the plugin whose folders the download has


def moodle_folder_matches(folder, student_id):
    """Whether Moodle's importer reads ``folder`` as ``student_id``'s submission files: split at
    its first four ``_``, the second part is the participant id and the next two the plugin
    (importziplib.php, ``is_valid_filename_for_import``)."""
    parts = folder.split("_", 4)
    return len(parts) >= 4 and parts[1] == str(student_id) and tuple(parts[2:4]) == MOODLE_PLUGIN


def moodle_folder(download_path, student_id):
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


def moodle_members(entries):
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


def write_moodle_zip(course_dir):
    """Write ``COURSE/feedback-moodle.zip`` from ``COURSE/class.json`` when the class came from a
    Moodle download; return its path and the number of pages in it, or None (another platform,
    no class list)."""
    course_dir = Path(course_dir)
    try:
        entries = json.loads((course_dir / "class.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entries, dict) or entries.get("lms") != "moodle":
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
