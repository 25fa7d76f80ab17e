import zipfile

import pytest
from submissions import build, downloads

from grader.intake.lms import detect_layout
from grader.intake.submissions import SubmissionSource, extract_zip, find_submissions

KNOWN = {"01_mnist_cam", "03_cats_dogs_gradcam"}


def _touch(path, text="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_flat_layout_with_numeric_and_dotted_ids(tmp_path):
    _touch(tmp_path / "12345" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "jane.doe" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "jane.doe" / "03_cats_dogs_gradcam.ipynb")
    _touch(tmp_path / "jane.doe" / "scratch.txt")
    submissions, refusals, notes = find_submissions(tmp_path, KNOWN)
    assert [(s.student_id, s.assignment) for s in submissions] == [
        ("12345", "01_mnist_cam"), ("jane.doe", "01_mnist_cam"), ("jane.doe", "03_cats_dogs_gradcam")]
    assert refusals == [] and notes == ["ignored jane.doe/scratch.txt: not a notebook"]


def test_nbgrader_submitted_layout(tmp_path):
    _touch(tmp_path / "submitted" / "ada" / "01_mnist_cam" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "submitted" / "ada" / "01_mnist_cam" / "timestamp.txt")
    _touch(tmp_path / "submitted" / "bob" / "03_cats_dogs_gradcam" / "03_cats_dogs_gradcam.ipynb")
    for root in (tmp_path, tmp_path / "submitted"):
        submissions, refusals, _ = find_submissions(root, KNOWN)
        assert [(s.student_id, s.assignment, s.path.name) for s in submissions] == [
            ("ada", "01_mnist_cam", "01_mnist_cam.ipynb"),
            ("bob", "03_cats_dogs_gradcam", "03_cats_dogs_gradcam.ipynb")]
        assert refusals == []


def test_ids_with_spaces_and_case_twins_are_refused_with_a_reason(tmp_path):
    _touch(tmp_path / "jane doe" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "Alice" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "alice" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "bob" / "01_mnist_cam.ipynb")
    submissions, refusals, _ = find_submissions(tmp_path, KNOWN)
    assert [s.student_id for s in submissions] == ["bob"]
    reasons = {r.student_id: r.reason for r in refusals}
    assert set(reasons) == {"jane doe", "Alice", "alice"}
    assert "rename the folder" in reasons["jane doe"]
    assert "differ only in case" in reasons["alice"] and "'Alice'" in reasons["alice"]


def test_unknown_notebooks_and_loose_files_are_noted(tmp_path):
    _touch(tmp_path / "ada" / "homework.ipynb")
    _touch(tmp_path / "README.txt")
    submissions, _, notes = find_submissions(tmp_path, KNOWN)
    assert submissions == []
    assert "ignored ada/homework.ipynb: no such notebook in this course" in notes
    assert "ignored README.txt: not a student folder" in notes


def test_zip_with_one_top_folder_is_unpacked(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("class/ada/01_mnist_cam.ipynb", "{}")
        handle.writestr("class/bob/01_mnist_cam.ipynb", "{}")
    with SubmissionSource(archive) as root:
        submissions, _, _ = find_submissions(root, KNOWN)
        assert [s.student_id for s in submissions] == ["ada", "bob"]
        assert all(s.path.is_file() for s in submissions)
    assert not submissions[0].path.exists()  # the temporary copy is gone afterwards


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../outside.ipynb", "{}")
    with pytest.raises(ValueError, match="outside the archive"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "outside.ipynb").exists()


def test_a_path_that_is_neither_folder_nor_zip_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="neither a folder"):
        with SubmissionSource(_touch(tmp_path / "grades.txt")):
            pass


# ---------------------------------------------------------------- Canvas and Moodle downloads, as they come

def _student_01():
    return build.load_student_notebook("01_mnist_cam")


def _student_03():
    return build.load_student_notebook("03_cats_dogs_gradcam")


def _found(archive, lms=None, worksheet=None):
    """``(submissions, refusals, notes)`` as tuples that outlive the temporary folder."""
    with SubmissionSource(archive) as root:
        submissions, refusals, notes = find_submissions(root, KNOWN, lms=lms, worksheet=worksheet)
        return ([(s.student_id, s.assignment, s.source, s.late) for s in submissions],
                [(r.student_id, r.assignment, r.late, r.reason) for r in refusals], notes)


def test_canvas_download_names_ids_late_flags_and_renamed_files(tmp_path):
    """Names as canvas-lms lib/content_zipper.rb writes them: ``get_filename`` joins the squeezed
    sortable name (``sanitize_user_name``: ``_2_`` -> ``2``, lowercase; ``sanitize_file_name``: word
    characters only, so "O_Neil 2, Kim" -> "o_neil2kim"), "LATE" and the user id;
    ``add_upload_submission`` adds the attachment id and the file's name. A file handed in again
    under a name the student already used is "-1" (Canvas renames the upload)."""
    archive = downloads.write_zip(tmp_path / "submissions.zip", [
        ("doejane_123_1001_01_mnist_cam.ipynb", _student_01()),
        ("obrienbob_LATE_124_1002_01_mnist_cam.ipynb", _student_01()),
        ("obrienbob_LATE_124_1003_03_cats_dogs_gradcam.ipynb", _student_03()),
        ("müllerzoë_125_1010_01_mnist_cam-1.ipynb", _student_01()),
        # renamed by the student: 03 by its cells, 01 by its title alone
        ("núñezjosé_126_1005_MyHomework-1.ipynb", _student_03()),
        ("núñezjosé_126_1006_Untitled.ipynb", downloads.without_nbgrader_metadata(_student_01())),
        ("o_neil2kim_127_1007_01_mnist_cam.ipynb", _student_01()),
    ])
    submissions, refusals, notes = _found(archive)
    assert submissions == [
        ("123", "01_mnist_cam", "doejane_123_1001_01_mnist_cam.ipynb", False),
        ("124", "01_mnist_cam", "obrienbob_LATE_124_1002_01_mnist_cam.ipynb", True),
        ("124", "03_cats_dogs_gradcam", "obrienbob_LATE_124_1003_03_cats_dogs_gradcam.ipynb", True),
        ("125", "01_mnist_cam", "müllerzoë_125_1010_01_mnist_cam-1.ipynb", False),
        ("126", "01_mnist_cam", "núñezjosé_126_1006_Untitled.ipynb", False),
        ("126", "03_cats_dogs_gradcam", "núñezjosé_126_1005_MyHomework-1.ipynb", False),
        ("127", "01_mnist_cam", "o_neil2kim_127_1007_01_mnist_cam.ipynb", False),
    ]
    assert refusals == []
    assert sorted(notes) == [
        "núñezjosé_126_1005_MyHomework-1.ipynb: recognized as 03_cats_dogs_gradcam by its cells",
        "núñezjosé_126_1006_Untitled.ipynb: recognized as 01_mnist_cam by its title",
    ]


def test_canvas_files_it_cannot_place_are_refused_with_a_reason(tmp_path):
    archive = downloads.write_zip(tmp_path / "submissions.zip", [
        ("doejane_123_1001_01_mnist_cam.ipynb", _student_01()),
        ("doejane_123_1002_report.pdf", downloads.PDF),
        ("doejane_123_text.html", "<p>see attachment</p>"),
        ("doejane_123_1003_scratch.ipynb", {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
        ("notes.txt", "grading notes"),
        # two students with one user id: neither can be trusted
        ("smithann_130_1020_01_mnist_cam.ipynb", _student_01()),
        ("smithbob_LATE_130_1021_01_mnist_cam.ipynb", _student_01()),
    ])
    submissions, refusals, _ = _found(archive)
    assert [(s, a) for s, a, _, _ in submissions] == [("123", "01_mnist_cam")]
    assert [(student, notebook, late) for student, notebook, late, _ in refusals] == [
        ("-", "-", None), ("123", "-", False), ("123", "-", False), ("123", "-", False),
        ("130", "01_mnist_cam", False), ("130", "01_mnist_cam", True)]
    reasons = [reason for *_, reason in refusals]
    assert reasons[0].startswith("notes.txt: not named as Canvas names submission files")
    assert "doejane_123_1002_report.pdf: not a notebook; not graded" in reasons
    assert "doejane_123_text.html: not a notebook; not graded" in reasons
    assert any(r.startswith("doejane_123_1003_scratch.ipynb: a notebook of no assignment of this course")
               for r in reasons)
    assert reasons[4] == ("smithann_130_1020_01_mnist_cam.ipynb: two students with the same id 130 "
                          "('smithann', 'smithbob'); the grader cannot tell whose it is")


MOODLE_WORKSHEET = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\n"
    'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 11:00 AM",-,\n'
    'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 2 hours late,,5.00,Yes,'
    '"Monday, 2 March 2026, 1:00 PM",-,\n'
    'Participant 5003,Zoë Müller,zoe@example.edu,Submitted for grading - Graded,4.00,5.00,Yes,'
    '"Sunday, 1 March 2026, 10:00 AM","Sunday, 1 March 2026, 3:00 PM",Well done\n'
)


def test_moodle_download_folders_subfolders_accents_and_late_from_the_worksheet(tmp_path):
    """mod/assign/classes/downloader.php ``load_submissionplugin_filelist``: a folder per student
    (``<prefix>_assignsubmission_file`` + the file's path, subfolders kept), or flat files with
    "Download submissions in folders" off; late flags from the worksheet's status."""
    archive = downloads.write_zip(tmp_path / "moodle.zip", [
        ("Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb", _student_01()),
        ("José Núñez_5002_assignsubmission_file/01_mnist_cam.ipynb", _student_01()),
        ("Zoë Müller_5003_assignsubmission_file/01_mnist_cam.ipynb", _student_01()),
        ("Zoë Müller_5003_assignsubmission_file/work/homework-2.ipynb", _student_03()),
        # "Download submissions in folders" off: flat files; not in the worksheet
        ("Ann Smith_5004_assignsubmission_file_01_mnist_cam.ipynb", _student_01()),
    ])
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(MOODLE_WORKSHEET, encoding="utf-8")
    submissions, refusals, notes = _found(archive, worksheet=worksheet)
    assert submissions == [
        ("5001", "01_mnist_cam", "Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb", False),
        ("5002", "01_mnist_cam", "José Núñez_5002_assignsubmission_file/01_mnist_cam.ipynb", True),
        ("5003", "01_mnist_cam", "Zoë Müller_5003_assignsubmission_file/01_mnist_cam.ipynb", False),
        ("5003", "03_cats_dogs_gradcam", "Zoë Müller_5003_assignsubmission_file/work/homework-2.ipynb", False),
        ("5004", "01_mnist_cam", "Ann Smith_5004_assignsubmission_file_01_mnist_cam.ipynb", None),
    ]
    assert refusals == []
    assert "student 5004 (Ann Smith) is not in the grading worksheet: lateness unknown" in notes
    # Without the worksheet nobody knows who was late.
    assert [late for *_, late in _found(archive, lms="moodle")[0]] == [None] * 5


def test_moodle_entries_it_cannot_place_are_refused_with_a_reason(tmp_path):
    archive = downloads.write_zip(tmp_path / "moodle.zip", [
        ("Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb", _student_01()),
        ("Jane Doe_5001_assignsubmission_file/report.pdf", downloads.PDF),
        ("Jane Doe_5001_assignsubmission_onlinetext/onlinetext.html", "<p>done</p>"),
        ("Ann Smith_5005_assignsubmission_file/01_mnist_cam.ipynb", _student_01()),
        ("Bob Smith_5005_assignsubmission_file/01_mnist_cam.ipynb", _student_01()),
        ("readme.txt", "instructions"),
    ])
    submissions, refusals, _ = _found(archive)
    assert [(s, a) for s, a, _, _ in submissions] == [("5001", "01_mnist_cam")]
    assert [(student, notebook) for student, notebook, _, _ in refusals] == [
        ("-", "-"), ("5001", "-"), ("5001", "-"), ("5005", "01_mnist_cam"), ("5005", "01_mnist_cam")]
    reasons = [reason for *_, reason in refusals]
    assert reasons[0].startswith("readme.txt: a file not named as Moodle names submissions")
    assert "Jane Doe_5001_assignsubmission_file/report.pdf: not a notebook; not graded" in reasons
    assert "Jane Doe_5001_assignsubmission_onlinetext/onlinetext.html: not a notebook; not graded" in reasons
    assert "two students with the same id 5005 ('Ann Smith', 'Bob Smith')" in reasons[3]


def test_the_layout_is_detected_and_a_mixture_is_an_error(tmp_path):
    canvas = downloads.write_zip(tmp_path / "canvas.zip", [("doejane_123_1001_01_mnist_cam.ipynb", _student_01())])
    moodle = downloads.write_zip(tmp_path / "moodle.zip", [
        ("download/Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb", _student_01())])   # zipped in a folder
    folders = downloads.write_zip(tmp_path / "folders.zip", [("jdoe/01_mnist_cam.ipynb", _student_01())])
    mixed = downloads.write_zip(tmp_path / "mixed.zip", [
        ("doejane_123_1001_01_mnist_cam.ipynb", _student_01()),
        ("Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb", _student_01())])
    for archive, expected in ((canvas, "canvas"), (moodle, "moodle"), (folders, "folders")):
        with SubmissionSource(archive) as root:
            assert detect_layout(root) == expected
    assert [s for s, *_ in _found(canvas)[0]] == ["123"]
    assert [s for s, *_ in _found(moodle)[0]] == ["5001"]
    assert [s for s, *_ in _found(folders)[0]] == ["jdoe"]
    with SubmissionSource(mixed) as root, pytest.raises(ValueError, match="pass --lms canvas, --lms moodle"):
        detect_layout(root)


def test_a_worksheet_that_is_not_moodles_is_a_clear_error(tmp_path):
    archive = downloads.write_zip(tmp_path / "moodle.zip", [
        ("Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb", _student_01())])
    gradebook = tmp_path / "grades.csv"
    gradebook.write_text("First name,Last name,Email address\nJane,Doe,jane@example.edu\n")
    with pytest.raises(ValueError, match="not Moodle's grading worksheet"):
        _found(archive, worksheet=gradebook)


class _NameWithoutUtf8Flag(zipfile.ZipInfo):
    """A member whose name a zip tool stored as UTF-8 bytes without setting the zip's UTF-8 flag."""

    def _encodeFilenameFlags(self):
        return self.filename.encode(), self.flag_bits


def test_extracted_files_keep_utf8_names_stored_without_the_flag(tmp_path):
    archive = tmp_path / "old-tool.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(_NameWithoutUtf8Flag("José Núñez_5002_assignsubmission_file/01_mnist_cam.ipynb"), "{}")
    with zipfile.ZipFile(archive) as handle:
        assert not handle.infolist()[0].flag_bits & 0x800   # Python alone would read it as cp437
    extracted = extract_zip(archive, tmp_path / "out")
    assert (extracted / "José Núñez_5002_assignsubmission_file" / "01_mnist_cam.ipynb").is_file()
