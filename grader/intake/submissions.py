"""Find the submissions an instructor has: a folder, a .zip of it, nbgrader's layout, or an LMS download.

Accepted layouts (``ROOT`` may also be a ``.zip`` holding one of them):

- ``ROOT/<student_id>/<notebook>.ipynb`` ("folders")
- ``ROOT/submitted/<student_id>/<assignment>/<notebook>.ipynb`` (nbgrader), or ``ROOT`` = that
  ``submitted`` folder ("folders")
- Canvas' "Download Submissions" and Moodle's "Download all submissions", as they come
  ("canvas", "moodle": :mod:`grader.intake.lms`). Without ``lms`` the layout is detected.

Student ids become folder names and nbgrader arguments, so they may hold letters, digits and
``_ . @ + -`` (numeric ids are fine). Other ids, and ids that differ only in case (they
collide on case-insensitive disks), are refused with a message naming the folder.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Collection
from pathlib import Path

from grader.intake import lms as platforms
from grader.intake.base import IntakeError, Refusal, Submission, extract_zip

STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")


def _submissions_root(root):
    """The folder holding the student folders: ``root``, ``root/submitted``, or a lone sub-folder."""
    root = Path(root)
    if (root / "submitted").is_dir():
        return root / "submitted"
    visible = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(visible) == 1 and visible[0].is_dir() and not any(visible[0].glob("*.ipynb")):
        inner = visible[0]
        if (inner / "submitted").is_dir():
            return inner / "submitted"
        if all(child.is_dir() for child in inner.iterdir() if not child.name.startswith(".")):
            return inner
    return root


def _notebooks_of(student_dir, known_assignments, notes):
    """``(assignment, path)`` pairs in one student's folder, flat or nbgrader-style."""
    found = []
    for path in sorted(student_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() and path.name in known_assignments:
            notebooks = sorted(path.glob("*.ipynb"))
            if notebooks:
                found.append((path.name, notebooks[0]))
            else:
                notes.append(f"ignored {student_dir.name}/{path.name}/: no notebook inside")
        elif path.suffix == ".ipynb" and path.stem in known_assignments:
            found.append((path.stem, path))
        elif path.suffix == ".ipynb":
            notes.append(f"ignored {student_dir.name}/{path.name}: no such notebook in this course")
        else:
            notes.append(f"ignored {student_dir.name}/{path.name}: not a notebook")
    return found


def find_submissions(root: str | Path, known_assignments: Collection[str], lms: str | None = None,
                     worksheet: str | Path | None = None,
                     groups: str | Path | None = None) -> tuple[list[Submission], list[Refusal], list[str]]:
    """Return ``(submissions, refusals, notes)`` for the folder ``root``.

    ``lms`` is "canvas", "moodle" or "folders", or None to detect it
    (:func:`grader.intake.lms.detect_layout`); ``worksheet`` is Moodle's grading worksheet (late flags
    and teams) and ``groups`` Canvas's group set export (:func:`grader.intake.lms.find_lms_submissions`).
    """
    if lms in (None, "auto"):
        lms = platforms.detect_layout(root)
    if lms != "folders":
        return platforms.find_lms_submissions(root, lms, known_assignments, worksheet=worksheet, groups=groups)
    if worksheet is not None or groups is not None:
        raise IntakeError("--worksheet and --groups describe a Moodle or Canvas download; these submissions are "
                          "folders of students")
    root = _submissions_root(root)
    submissions, refusals, notes = [], [], []
    student_dirs = [p for p in sorted(root.iterdir()) if not p.name.startswith(".")]
    by_folded_id = {}
    for path in student_dirs:
        if path.is_dir():
            by_folded_id.setdefault(path.name.casefold(), []).append(path.name)
    for path in student_dirs:
        if not path.is_dir():
            notes.append(f"ignored {path.name}: not a student folder")
            continue
        found = _notebooks_of(path, known_assignments, notes)
        if not STUDENT_ID_PATTERN.match(path.name):
            reason = (f"student id {path.name!r} cannot be used (allowed: letters, digits and _.@+-, "
                      "starting with a letter or digit); rename the folder")
        elif len(by_folded_id[path.name.casefold()]) > 1:
            others = [n for n in by_folded_id[path.name.casefold()] if n != path.name]
            reason = f"student ids {path.name!r} and {others[0]!r} differ only in case; rename one folder"
        else:
            submissions.extend(Submission(path.name, assignment, notebook) for assignment, notebook in found)
            if not found:
                notes.append(f"student {path.name}: no notebook of this course found")
            continue
        refusals.extend(Refusal(path.name, assignment, reason) for assignment, _ in found or [("-", None)])
    return submissions, refusals, notes


class SubmissionSource:
    """Context manager yielding a folder for ``path``: the folder itself, or a .zip extracted to a temp dir."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._temporary = None

    def __enter__(self):
        if self.path.is_file() and zipfile.is_zipfile(self.path):
            self._temporary = tempfile.mkdtemp(prefix="grader-zip-")
            return extract_zip(self.path, self._temporary)
        if self.path.is_dir():
            return self.path
        raise IntakeError(f"{self.path} is neither a folder of submissions nor a .zip of one")

    def __exit__(self, *exc_info):
        if self._temporary:
            shutil.rmtree(self._temporary, ignore_errors=True)
        return False
