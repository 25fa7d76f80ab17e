"""From the LMS and back: a Canvas and a Moodle submissions download in each platform's current
default form, graded as they come, then exported into the file each platform imports, equal to
files written here by hand.

Canvas: Assignment > Download Submissions, named as canvas-lms ``lib/content_zipper.rb``
(``get_filename``, ``add_upload_submission``) names files; its gradebook export as
``lib/gradebook_exporter.rb`` writes it, with the assignment column "Lab 1 (311)" that the grades
must land in (``lib/gradebook_importer.rb`` matches columns by the id in their title). Moodle:
Download all submissions with its default "Download submissions in folders" (moodle
``mod/assign/classes/downloader.php``, 4.1 and later: ``<Full Name>_<id>_assignsubmission_file/``)
and the assignment's grading worksheet (``mod/assign/gradingtable.php`` in download mode).

Each download has four students handing in 01_mnist_cam (the reference: 5 points; the untouched
notebook: 0; a wrong answer that uses the true label: 3): one late, names with accents, a renamed
notebook, and a stray PDF; in the Moodle download one notebook is inside a zip the student made.
Eight notebooks are graded, four per download, ``--jobs 2``.
"""

import csv
import io
import json
import subprocess
import sys
import zipfile

from submissions import build, downloads

from grader.course import REPO_ROOT

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
            "reason": reason, "late": late, "override": "", "sandboxed": "",
            **{f"01_mnist_cam:{test}": "" for test in TESTS_01}}


CANVAS_DOWNLOAD = [
    ("doejane_123_1001_01_mnist_cam.ipynb", "reference"),
    ("obrienbob_LATE_124_1002_01_mnist_cam.ipynb", "reference"),
    ("núñezjosé_126_1004_MyHomework-1.ipynb", "untouched"),        # renamed by the student
    ("smithann_127_1005_01_mnist_cam.ipynb", "true_label"),
    ("smithann_127_1006_report.pdf", None),
]

# Canvas' gradebook export (Grades > Export): the class, the assignment the download came from, and
# a student who handed nothing in.
CANVAS_GRADEBOOK = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (311)\r\n"
    "    Points Possible,,,,,5\r\n"
    '"Doe, Jane",123,S123,jdoe,Section A,\r\n'
    '"O\'Brien, Bob",124,S124,bobrien,Section A,\r\n'
    '"Núñez, José",126,S126,jnunez,Section B,\r\n'
    '"Smith, Ann",127,S127,asmith,Section A,\r\n'
    '"Wong, Lee",128,S128,lwong,Section B,\r\n'
)

CANVAS_IMPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (311)\r\n"
    "Points Possible,,,,,5\r\n"
    '"Doe, Jane",123,S123,jdoe,Section A,5\r\n'
    '"O\'Brien, Bob",124,S124,bobrien,Section A,5\r\n'
    '"Núñez, José",126,S126,jnunez,Section B,0\r\n'
    '"Smith, Ann",127,S127,asmith,Section A,3\r\n'
    '"Wong, Lee",128,S128,lwong,Section B,\r\n'
)

FOLDER = "_assignsubmission_file"
MOODLE_DOWNLOAD = [
    (f"Jane Doe_5001{FOLDER}/my-lab.zip", "zipped reference"),      # the notebook inside: graded
    (f"José Núñez_5002{FOLDER}/01_mnist_cam.ipynb", "reference"),
    (f"Bob O'Brien_5004{FOLDER}/homework.ipynb", "untouched"),
    (f"Ann Smith_5005{FOLDER}/01_mnist_cam.ipynb", "true_label"),
    (f"Ann Smith_5005{FOLDER}/report.pdf", None),
]

# Moodle's grading worksheet of the assignment (maximum grade 5); José was late, Lee handed nothing in.
WORKSHEET_HEADER = ("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
                    "Last modified (submission),Last modified (grade),Feedback comments\r\n")
MOODLE_WORKSHEET = WORKSHEET_HEADER + (
    'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 11:00 AM",-,\r\n'
    'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 1 hour late,,5.00,Yes,'
    '"Monday, 2 March 2026, 1:00 PM",-,\r\n'
    "Participant 5004,Bob O'Brien,bob@example.edu,Submitted for grading,,5.00,Yes,"
    "\"Sunday, 1 March 2026, 9:00 AM\",-,\r\n"
    'Participant 5005,Ann Smith,ann@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 8:00 AM",-,\r\n'
    "Participant 5006,Lee Wong,lee@example.edu,No submission - Assignment is overdue by: 2 days,,5.00,Yes,-,-,\r\n"
)

MOODLE_UPLOAD = WORKSHEET_HEADER + (
    'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,5,5.00,Yes,'
    '"Sunday, 1 March 2026, 11:00 AM",-,\r\n'
    'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 1 hour late,5,5.00,Yes,'
    '"Monday, 2 March 2026, 1:00 PM",-,\r\n'
    "Participant 5004,Bob O'Brien,bob@example.edu,Submitted for grading,0,5.00,Yes,"
    "\"Sunday, 1 March 2026, 9:00 AM\",-,\r\n"
    'Participant 5005,Ann Smith,ann@example.edu,Submitted for grading,3,5.00,Yes,"Sunday, 1 March 2026, 8:00 AM",-,\r\n'
    "Participant 5006,Lee Wong,lee@example.edu,No submission - Assignment is overdue by: 2 days,,5.00,Yes,-,-,\r\n"
)


def _content(kind):
    if kind == "zipped reference":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("my-lab/01_mnist_cam.ipynb", json.dumps(build.notebook_01("reference")))
        return buffer.getvalue()
    return downloads.PDF if kind is None else build.notebook_01(kind)


def test_a_canvas_download_graded_as_it_comes_and_exported_back(tmp_path):
    archive = downloads.write_zip(tmp_path / "submissions.zip",
                                  [(name, _content(kind)) for name, kind in CANVAS_DOWNLOAD])
    course = tmp_path / "course"
    graded = _grader("autograde", archive, "--course-dir", course, "--jobs", 2, "--timeout", 300)   # detected
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert "núñezjosé_126_1004_MyHomework-1.ipynb: recognized as 01_mnist_cam by its cells" in graded.stdout
    expected = [_expected("123", "reference", "no"), _expected("124", "reference", "yes"),
                _expected("126", "untouched", "no"),
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
    assert "Lab 1 (311) <- 01_mnist_cam" in exported.stdout
    assert exported.stderr.splitlines() == [
        "warning: Wong, Lee (ID '128') is in the roster but has no submission: grade cells left empty"]


def test_a_moodle_download_graded_as_it_comes_and_uploaded_back_with_the_worksheet(tmp_path):
    archive = downloads.write_zip(tmp_path / "moodle.zip", [(name, _content(kind)) for name, kind in MOODLE_DOWNLOAD])
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(MOODLE_WORKSHEET, encoding="utf-8", newline="")
    course = tmp_path / "course"
    graded = _grader("autograde", archive, "--lms", "moodle", "--worksheet", worksheet, "--course-dir", course,
                     "--jobs", 2, "--timeout", 300)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
    assert f"Bob O'Brien_5004{FOLDER}/homework.ipynb: recognized as 01_mnist_cam by its cells" in graded.stdout
    entries = json.loads((course / "class.json").read_text())["submissions"]
    files = {entry["student_id"]: entry["file"] for entry in entries}
    assert files["5001"] == f"Jane Doe_5001{FOLDER}/my-lab.zip/my-lab/01_mnist_cam.ipynb"   # opened and graded
    expected = [_expected("5001", "reference", "no"), _expected("5002", "reference", "yes"),
                _expected("5004", "untouched", "no"),
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
