"""Issue 20: a malformed file is a refused or invalid row, never a crashed class, in every layout.

Each layout (folders, a .zip of them, Canvas, Moodle) holds one good 01_mnist_cam beside one
malformed file per kind below. What the class run does before grading is done here directly:
:func:`grader.intake.submissions.find_submissions`, then :func:`grader.pipeline.autograde._read_notebook` for
each submission (a real grading costs about 20 s a notebook; these files never reach a kernel).
"""

import csv
import functools
import json

import pytest
from submissions import build, downloads

from grader.intake import notebook_file
from grader.intake.submissions import SubmissionSource, find_submissions
from grader.pipeline.autograde import _read_notebook, autograde

KNOWN = {"01_mnist_cam", "03_cats_dogs_gradcam"}
# The two files of the issue: one crashed the class (exit 1), the other ended it (exit 2).
ISSUE_WRONG_TYPES = '{"cells":[{"metadata":{"nbgrader":[]}}]}'
ISSUE_DEEP_NESTING = "[" * 100000 + "]" * 100000


def _student(change=None, ensure_ascii=True):
    """01's student notebook as JSON text, after ``change(notebook)``."""
    notebook = build.load_student_notebook("01_mnist_cam")
    if change:
        change(notebook)
    return json.dumps(notebook, ensure_ascii=ensure_ascii)


def _set(path, value):
    """A change that puts ``value`` at ``path`` (keys and indexes) of a notebook."""
    def change(notebook):
        target = notebook
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _first_graded(notebook):
    return next(i for i, cell in enumerate(notebook["cells"]) if build.grade_id(cell))


def _grade_id_list(notebook):
    index = _first_graded(notebook)
    notebook["cells"][index]["metadata"]["nbgrader"]["grade_id"] = [build.grade_id(notebook["cells"][index])]


def _huge_output(notebook):
    """A code cell whose image output alone is over the size limit."""
    image = {"output_type": "display_data", "metadata": {},
             "data": {"image/png": "A" * notebook_file.MAX_NOTEBOOK_BYTES}}
    notebook["cells"].append({"cell_type": "code", "execution_count": 1, "id": "huge", "metadata": {},
                              "outputs": [image], "source": "plot()"})


def _many_cells():
    cell = {"cell_type": "markdown", "metadata": {}, "source": ""}
    return json.dumps({"cells": [cell] * 100_001, "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


# kind: (the file's content, the reason it gets after "not a valid notebook (")
MALFORMED = {
    "issuewrongtypes": (lambda: ISSUE_WRONG_TYPES, "cells[0].metadata.nbgrader is an array, not an object)"),
    "issuedeepnesting": (lambda: ISSUE_DEEP_NESTING, "its JSON is nested more than 100 levels deep)"),
    "cellsnotalist": (lambda: _student(lambda nb: nb.update(cells=dict(enumerate(nb["cells"])))),
                      "cells is an object, not an array)"),
    "cellnotadict": (lambda: _student(_set(["cells", 1], "print('hi')")), "cells[1] is a string, not an object)"),
    "metadataalist": (lambda: _student(_set(["cells", 2, "metadata"], [])),
                      "cells[2].metadata is an array, not an object)"),
    "nbgraderalist": (lambda: _student(lambda nb: _set(["cells", _first_graded(nb), "metadata", "nbgrader"], [])(nb)),
                      "].metadata.nbgrader is an array, not an object)"),
    "gradeidalist": (lambda: _student(_grade_id_list), "].metadata.nbgrader.grade_id is an array, not a string)"),
    "sourceanumber": (lambda: _student(_set(["cells", 3, "source"], 42)),
                      "cells[3].source is a number, not a string or an array of strings)"),
    "sourcelinenull": (lambda: _student(_set(["cells", 3, "source"], ["x = 1\n", None])),
                       "cells[3].source[1] is null, not a string)"),
    "notebookmetadataalist": (lambda: _student(_set(["metadata"], [])), "metadata is an array, not an object)"),
    "anarray": (lambda: "[]", "the file is an array, not an object)"),
    "deepmetadata": (lambda: _student(_set(["metadata", "deep"], json.loads("[" * 150 + "]" * 150))),
                     "its JSON is nested more than 100 levels deep)"),
    "manycells": (_many_cells, "it has 100,001 cells, more than the 10,000 a notebook may have)"),
    "latin1": (lambda: _student(_set(["cells", 0, "source"], "# Zoë's notebook"), False).encode("cp1252", "replace"),
               "not UTF-8 text: byte 0xeb at offset 85)"),
    "surrogate": (lambda: _student(_set(["cells", 0, "source"], "\ud800")),
                  "a string holds a lone surrogate escape, \\ud800-\\udfff without its pair"),
    "toolarge": (lambda: _student(_huge_output), "more than the 20,971,520 (20 MiB) a notebook may have)"),
    "notjson": (lambda: "this is not a notebook {", "Notebook does not appear to be JSON: 'this is not a notebook {')"),
}


@functools.cache
def _content(kind):
    return MALFORMED[kind][0]() if kind in MALFORMED else _student()


def _folder_members(prefix=""):
    return [(f"{prefix}{kind}/01_mnist_cam.ipynb", _content(kind)) for kind in ["good", *MALFORMED]]


def _canvas_members():
    """``<name>_<user id>_<file id>_01_mnist_cam.ipynb``, user ids 200, 201, ... in the order of the kinds,
    and a malformed file its name does not place (user id 299)."""
    members = [(f"{kind}_{200 + i}_{3000 + i}_01_mnist_cam.ipynb", _content(kind))
               for i, kind in enumerate(["good", *MALFORMED])]
    return members + [("stray_299_3999_homework.ipynb", ISSUE_WRONG_TYPES)]


def _moodle_members():
    members = [(f"Student {kind}_{6000 + i}_assignsubmission_file_/01_mnist_cam.ipynb", _content(kind))
               for i, kind in enumerate(["good", *MALFORMED])]
    return members + [("Stray Student_6099_assignsubmission_file_/homework.ipynb", ISSUE_WRONG_TYPES)]


def _download(tmp_path, layout):
    """The submissions of ``layout``: a folder, or a zip as the platform hands it out."""
    if layout == "folders":
        for name, content in _folder_members():
            path = tmp_path / "class" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return tmp_path / "class"
    members = {"zip": lambda: _folder_members("class/"), "canvas": _canvas_members, "moodle": _moodle_members}[layout]()
    return downloads.write_zip(tmp_path / f"{layout}.zip", members)


def _rows(source):
    """``{student id: (status, reason)}`` before grading: "found" for a notebook that would be graded,
    "invalid" (the reason its grade gets) or "refused"."""
    with SubmissionSource(source) as root:
        submissions, refusals, _ = find_submissions(root, KNOWN)
        rows = {refusal.student_id: ("refused", refusal.reason) for refusal in refusals}
        for submission in submissions:
            notebook, problem = _read_notebook(submission.path)
            rows[submission.student_id] = ("found", None) if notebook is not None else ("invalid", problem)
    return rows


def _student_ids(layout):
    """The student id of each kind in ``layout``, "good" first, then the kinds of MALFORMED in order."""
    kinds = ["good", *MALFORMED]
    if layout in ("folders", "zip"):
        return kinds
    return [str((200 if layout == "canvas" else 6000) + i) for i in range(len(kinds))]


STRAY_REASON = "not a valid notebook (cells[0].metadata.nbgrader is an array, not an object); not graded"


@pytest.mark.parametrize("layout", ["folders", "zip", "canvas", "moodle"])
def test_each_malformed_file_is_an_invalid_row_and_the_good_student_is_found(tmp_path, layout):
    rows = _rows(_download(tmp_path, layout))
    good, *malformed = _student_ids(layout)
    assert rows.pop(good) == ("found", None)
    for student_id, (kind, (_, reason)) in zip(malformed, MALFORMED.items()):
        status, got = rows.pop(student_id)
        assert status == "invalid" and got.startswith("not a valid notebook (") and reason in got, (kind, got)
    if layout == "canvas":
        assert rows.pop("299") == ("refused", f"stray_299_3999_homework.ipynb: {STRAY_REASON}")
    if layout == "moodle":
        assert rows.pop("6099") == ("refused",
                                    f"Stray Student_6099_assignsubmission_file_/homework.ipynb: {STRAY_REASON}")
    assert rows == {}


def test_the_issue_files_in_a_canvas_download_give_rows_and_exit_0(tmp_path):
    """The whole command on the issue's two files (named so no notebook is graded: this takes a second)."""
    archive = downloads.write_zip(tmp_path / "submissions.zip", [
        ("doejane_123_1001_homework.ipynb", ISSUE_WRONG_TYPES),
        ("smithann_LATE_124_1002_homework.ipynb", ISSUE_DEEP_NESTING)])
    assert autograde(archive, tmp_path / "course", isolate="off", progress=False) == 0
    with open(tmp_path / "course" / "grades.csv", encoding="utf-8") as handle:
        rows = [(row["student_id"], row["notebook"], row["status"], row["reason"], row["late"])
                for row in csv.DictReader(handle)]
    assert rows == [
        ("123", "-", "refused", f"doejane_123_1001_homework.ipynb: {STRAY_REASON}", "no"),
        ("124", "-", "refused", "smithann_LATE_124_1002_homework.ipynb: not a valid notebook (its JSON is nested more "
                                "than 100 levels deep); not graded", "yes")]


# ---------------------------------------------------------------- the reader itself

def test_the_course_notebooks_pass_the_reader():
    for folder in ("notebooks", "solutions"):
        for name in sorted(KNOWN):
            path = build.REPO_ROOT / folder / f"{name}.ipynb"
            assert notebook_file.load(path)["nbformat"] == 4
            assert notebook_file.read_notebook(path).cells


def test_nesting_counts_brackets_outside_strings_only(tmp_path):
    def reason(metadata_value):
        path = tmp_path / "n.ipynb"
        notebook = {"cells": [], "metadata": {"x": metadata_value}, "nbformat": 4, "nbformat_minor": 5}
        path.write_text(json.dumps(notebook))
        try:
            notebook_file.load(path)
        except notebook_file.NotANotebook as error:
            return str(error)
        return None

    assert reason(json.loads("[" * 98 + "]" * 98)) is None   # 100 levels with the notebook and its metadata
    assert reason(json.loads("[" * 99 + "]" * 99)) == "its JSON is nested more than 100 levels deep"
    assert reason("[{" * 5000 + '\\"]}' * 5000) is None      # brackets and escaped quotes inside a string


def test_a_file_over_the_limit_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "big.ipynb"
    with open(path, "wb") as handle:
        handle.truncate(notebook_file.MAX_NOTEBOOK_BYTES + 1)   # sparse: nothing to read
    monkeypatch.setattr(notebook_file, "_decode", lambda *_: pytest.fail("read a file over the limit"))
    too_large = r"^the file has 20,971,521 bytes, more than the 20,971,520 \(20 MiB\) a notebook may have$"
    with pytest.raises(notebook_file.NotANotebook, match=too_large):
        notebook_file.load(path)


def test_a_zip_bomb_in_a_download_is_a_row_and_never_reaches_the_disk(tmp_path):
    """A Canvas member of 1 GiB of zeros (1 MiB in the zip) is not extracted: a sparse file of its
    declared size stands in, the reader refuses it from its size, and its result key is made
    without reading it. The good student beside it is found."""
    import hashlib
    import zipfile

    from grader.pipeline.results import sha256

    bomb = tmp_path / "canvas.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("good_200_7000_01_mnist_cam.ipynb", _student())
        with archive.open("bomb_201_7001_01_mnist_cam.ipynb", "w", force_zip64=True) as member:
            zeros = bytes(2**24)
            for _ in range(64):
                member.write(zeros)
    assert bomb.stat().st_size < 2 * 2**20
    with SubmissionSource(bomb) as root:
        submissions, refusals, _ = find_submissions(root, KNOWN)
        stand_in = next(s.path for s in submissions if s.student_id == "201")
        assert stand_in.stat().st_size == 2**30 and stand_in.stat().st_blocks * 512 < 2**20
        assert sha256(stand_in, largest=notebook_file.MAX_NOTEBOOK_BYTES) == hashlib.sha256(
            f"{2**30} bytes".encode()).hexdigest()   # known by its size, not read
        rows = {s.student_id: _read_notebook(s.path)[1] for s in submissions}
    assert rows["200"] is None and "20 MiB" in rows["201"] and refusals == [], rows
