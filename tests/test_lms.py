"""From the LMS and back: a Canvas and a Moodle submissions download, graded as they come, then
exported into the file each platform imports, equal to files written here by hand.

Each download has five students handing in 01_mnist_cam (the reference: 5 points; the untouched
notebook: 0; a wrong answer that uses the true label: 3): one late, one who handed in twice
(the second file with a ``-1`` suffix), names with accents, a renamed notebook, and a stray PDF.
Ten notebooks are graded, five per download, ``--jobs 2``.
"""

import csv
import subprocess
import sys

from grader.course import REPO_ROOT
from submissions import build, downloads

TESTS_01 = ("test_show_cam_predicted_class", "test_show_cam_shape", "test_show_cam_values")


def _grader(*arguments):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, arguments)], cwd=REPO_ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=900)


def _rows(course_dir):
    with open(course_dir / "grades.csv", encoding="utf-8") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _expected(student_id, kind, late):
    return {**build.expected_row_01(student_id, kind), "late": late}


def _refused(student_id, reason, late):
    return {"student_id": student_id, "notebook": "-", "score": "0.0", "max_score": "0.0", "status": "refused",
            "reason": reason, "late": late, **{test: "" for test in TESTS_01}}


CANVAS_DOWNLOAD = [
    ("doejane_123_1001_01_mnist_cam.ipynb", "reference"),
    ("obrienbob_LATE_124_1002_01_mnist_cam.ipynb", "reference"),
    ("müllerzoë_125_1003_01_mnist_cam.ipynb", "untouched"),        # first try
    ("müllerzoë_125_1011_01_mnist_cam-1.ipynb", "reference"),      # handed in again: graded
    ("núñezjosé_126_1004_MyHomework-1.ipynb", "untouched"),        # renamed by the student
    ("smithann_127_1005_01_mnist_cam.ipynb", "true_label"),
    ("smithann_127_1006_report.pdf", None),
]

# Canvas' gradebook export (Grades > Export): the class, with a student who handed nothing in.
CANVAS_GRADEBOOK = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (311)\r\n"
    "    Points Possible,,,,,10\r\n"
    '"Doe, Jane",123,S123,jdoe,Section A,9\r\n'
    '"O\'Brien, Bob",124,S124,bobrien,Section A,8\r\n'
    '"Müller, Zoë",125,S125,zmuller,Section B,10\r\n'
    '"Núñez, José",126,S126,jnunez,Section B,7\r\n'
    '"Smith, Ann",127,S127,asmith,Section A,6\r\n'
    '"Wong, Lee",128,S128,lwong,Section B,\r\n'
)

CANVAS_IMPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,01_mnist_cam\r\n"
    "Points Possible,,,,,5\r\n"
    '"Doe, Jane",123,S123,jdoe,Section A,5\r\n'
    '"O\'Brien, Bob",124,S124,bobrien,Section A,5\r\n'
    '"Müller, Zoë",125,S125,zmuller,Section B,5\r\n'
    '"Núñez, José",126,S126,jnunez,Section B,0\r\n'
    '"Smith, Ann",127,S127,asmith,Section A,3\r\n'
    '"Wong, Lee",128,S128,lwong,Section B,\r\n'
)

FOLDER = "_assignsubmission_file_"
MOODLE_DOWNLOAD = [
    (f"Jane Doe_5001{FOLDER}/01_mnist_cam.ipynb", "reference", (2026, 3, 1, 11, 0, 0)),
    (f"José Núñez_5002{FOLDER}/01_mnist_cam.ipynb", "reference", (2026, 3, 2, 13, 0, 0)),
    (f"Zoë Müller_5003{FOLDER}/01_mnist_cam.ipynb", "untouched", (2026, 3, 1, 10, 0, 0)),
    (f"Zoë Müller_5003{FOLDER}/01_mnist_cam-1.ipynb", "reference", (2026, 3, 1, 11, 30, 0)),   # newer: graded
    (f"Bob O'Brien_5004{FOLDER}/homework.ipynb", "untouched", (2026, 3, 1, 9, 0, 0)),
    (f"Ann Smith_5005{FOLDER}/01_mnist_cam.ipynb", "true_label", (2026, 3, 1, 8, 0, 0)),
    (f"Ann Smith_5005{FOLDER}/report.pdf", None, (2026, 3, 1, 8, 0, 0)),
]

# Moodle's grading worksheet of the assignment (maximum grade 5); José was late, Lee handed nothing in.
WORKSHEET_HEADER = ("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
                    "Last modified (submission),Last modified (grade),Feedback comments\r\n")
MOODLE_WORKSHEET = WORKSHEET_HEADER + (
    'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 11:00 AM",-,\r\n'
    'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 1 hour late,,5.00,Yes,'
    '"Monday, 2 March 2026, 1:00 PM",-,\r\n'
    'Participant 5003,Zoë Müller,zoe@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 11:30 AM",-,\r\n'
    "Participant 5004,Bob O'Brien,bob@example.edu,Submitted for grading,,5.00,Yes,\"Sunday, 1 March 2026, 9:00 AM\",-,\r\n"
    'Participant 5005,Ann Smith,ann@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 8:00 AM",-,\r\n'
    "Participant 5006,Lee Wong,lee@example.edu,No submission - Overdue by: 2 days,,5.00,Yes,-,-,\r\n"
)

MOODLE_UPLOAD = WORKSHEET_HEADER + (
    'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,5,5.00,Yes,"Sunday, 1 March 2026, 11:00 AM",-,\r\n'
    'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 1 hour late,5,5.00,Yes,'
    '"Monday, 2 March 2026, 1:00 PM",-,\r\n'
    'Participant 5003,Zoë Müller,zoe@example.edu,Submitted for grading,5,5.00,Yes,"Sunday, 1 March 2026, 11:30 AM",-,\r\n'
    "Participant 5004,Bob O'Brien,bob@example.edu,Submitted for grading,0,5.00,Yes,\"Sunday, 1 March 2026, 9:00 AM\",-,\r\n"
    'Participant 5005,Ann Smith,ann@example.edu,Submitted for grading,3,5.00,Yes,"Sunday, 1 March 2026, 8:00 AM",-,\r\n'
    "Participant 5006,Lee Wong,lee@example.edu,No submission - Overdue by: 2 days,,5.00,Yes,-,-,\r\n"
)


def _content(kind):
    return downloads.PDF if kind is None else build.notebook_01(kind)


def test_a_canvas_download_graded_as_it_comes_and_exported_back(tmp_path):
    archive = downloads.write_zip(tmp_path / "submissions.zip",
                                  [(name, _content(kind)) for name, kind in CANVAS_DOWNLOAD])
    course = tmp_path / "course"
    graded = _grader("autograde", archive, "--course-dir", course, "--jobs", 2, "--timeout", 300)   # detected
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert ("student 125, 01_mnist_cam: graded müllerzoë_125_1011_01_mnist_cam-1.ipynb, the newest of 2 files "
            "(not graded: müllerzoë_125_1003_01_mnist_cam.ipynb)") in graded.stdout
    assert "núñezjosé_126_1004_MyHomework-1.ipynb: recognized as 01_mnist_cam by its cells" in graded.stdout
    expected = [_expected("123", "reference", "no"), _expected("124", "reference", "yes"),
                _expected("125", "reference", "no"), _expected("126", "untouched", "no"),
                _refused("127", "smithann_127_1006_report.pdf: not a notebook; not graded", "no"),
                _expected("127", "true_label", "no")]
    assert _rows(course) == expected

    before = (course / "grades.csv").read_text(encoding="utf-8")
    collected = _grader("collect", "--course-dir", course)
    assert collected.returncode == 0, collected.stdout[-2000:]
    assert (course / "grades.csv").read_text(encoding="utf-8") == before   # the same late flags

    roster, out = tmp_path / "canvas-gradebook.csv", tmp_path / "canvas-import.csv"
    roster.write_text(CANVAS_GRADEBOOK, encoding="utf-8", newline="")
    exported = _grader("export", "--format", "canvas", "--roster", roster, "--course-dir", course, out)
    assert exported.returncode == 0, exported.stderr
    assert out.read_bytes().decode("utf-8") == CANVAS_IMPORT
    assert exported.stderr.splitlines() == [
        "warning: Wong, Lee (ID '128') is in the roster but has no submission: grade cells left empty"]


def test_a_moodle_download_graded_as_it_comes_and_uploaded_back_with_the_worksheet(tmp_path):
    archive = downloads.write_zip(tmp_path / "moodle.zip",
                                  [(name, _content(kind), when) for name, kind, when in MOODLE_DOWNLOAD])
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(MOODLE_WORKSHEET, encoding="utf-8", newline="")
    course = tmp_path / "course"
    graded = _grader("autograde", archive, "--lms", "moodle", "--worksheet", worksheet, "--course-dir", course,
                     "--jobs", 2, "--timeout", 300)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert (f"student 5003, 01_mnist_cam: graded Zoë Müller_5003{FOLDER}/01_mnist_cam-1.ipynb, the newest of 2 files "
            f"(not graded: Zoë Müller_5003{FOLDER}/01_mnist_cam.ipynb)") in graded.stdout
    expected = [_expected("5001", "reference", "no"), _expected("5002", "reference", "yes"),
                _expected("5003", "reference", "no"), _expected("5004", "untouched", "no"),
                _refused("5005", f"Ann Smith_5005{FOLDER}/report.pdf: not a notebook; not graded", "no"),
                _expected("5005", "true_label", "no")]
    assert _rows(course) == expected

    out = tmp_path / "worksheet-graded.csv"
    exported = _grader("export", "--format", "moodle", "--roster", worksheet, "--course-dir", course, out)
    assert exported.returncode == 0, exported.stderr
    assert out.read_bytes().decode("utf-8") == MOODLE_UPLOAD
    assert exported.stderr.splitlines() == [
        "warning: Lee Wong (Identifier 'Participant 5006') is in the roster but has no submission: "
        "Grade left as downloaded"]
