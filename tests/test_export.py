"""``python -m grader export``: the Canvas, Moodle and plain CSV files equal golden files written
by hand (``tests/golden/export/``), and a roster it cannot use is a one-line error with exit 2.

One small class: names with commas, double quotes, accents and a leading ``=``; a student who is
not in the roster (zed) and a roster student who handed nothing in (José Núñez).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.__main__ import main
from grader.course import REPO_ROOT
from grader.export.grades import neutralize, read_grades
from grader.pipeline.results import Grade, write_grades_csv

GOLDEN = Path(__file__).parent / "golden" / "export"

# (student, notebook, score, max_score, status); each format's student ids are in IDS.
GRADES = [
    ("jane", "01_mnist_cam", 5, 5, "graded"),
    ("jane", "03_cats_dogs_gradcam", 6.5, 7, "graded"),
    ("bob", "01_mnist_cam", 3, 5, "graded"),
    ("bob", "03_cats_dogs_gradcam", 0, 0, "refused"),
    ("zoe", "01_mnist_cam", 5, 5, "graded"),
    ("mallory", "01_mnist_cam", 0, 5, "timeout"),
    ("mallory", "03_cats_dogs_gradcam", 7, 7, "graded"),
    ("zed", "01_mnist_cam", 4, 5, "graded"),
]

# The grader's student ids (folder names); case differs from the roster on purpose for jane.
IDS = {
    "canvas": {"jane": "JDoe", "bob": "bobrien", "zoe": "zmuller", "mallory": "mallory", "zed": "zed"},
    "moodle": {"jane": "Jane.Doe@example.edu", "bob": "bob@example.edu", "zoe": "zoe@example.edu",
               "mallory": "mallory@example.edu", "zed": "zed@example.edu"},
    "csv": {"jane": "JDoe", "bob": "bobrien", "zoe": "zmuller", "mallory": "mallory", "zed": "zed"},
}

# Canvas' gradebook export (lib/gradebook_exporter.rb, GradebookExporter#csv_data): a byte-order
# mark, an assignment of each notebook's title ("01_mnist_cam (401)": Assignment#title_with_id)
# beside another assignment, a read-only score column and the "Points Possible" row.
CANVAS_ROSTER = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (311),01_mnist_cam (401),03_cats_dogs_gradcam (402),"
    "Current Score\r\n"
    "    Points Possible,,,,,10,5,7,(read only)\r\n"
    '"Doe, Jane",101,S101,jdoe,"Section A, Mon",8,,,80\r\n'
    '"O\'Brien ""Bob"", Robert",102,S102,bobrien,Section B,9,,,90\r\n'
    '"Müller, Zoë",103,S103,zmuller,Section A,,,,\r\n'
    '"Núñez, José",104,S104,jnunez,Section B,7,,,70\r\n'
    '"=HYPERLINK(""http://x"")",105,S105,mallory,@SUM(1+1),,,,\r\n'
)

# Moodle's grade export (Grades > Export > Plain text file).
MOODLE_ROSTER = (
    "First name,Last name,ID number,Institution,Department,Email address\n"
    "Jane,Doe,,,,jane.doe@example.edu\n"
    '"Robert ""Bob""","O\'Brien, Jr.",,,,bob@example.edu\n'
    "Zoë,Müller,,,,zoe@example.edu\n"
    "José,Núñez,,,,jose@example.edu\n"
    '"=HYPERLINK(""http://x"")",-2+3,,,,mallory@example.edu\n'
)

PLAIN_ROSTER = (
    "student_id,name\n"
    'jdoe,"Doe, Jane"\n'
    'bobrien,"O\'Brien ""Bob"", Robert"\n'
    'zmuller,"Müller, Zoë"\n'
    'jnunez,"Núñez, José"\n'
    'mallory,"=HYPERLINK(""http://x"")"\n'
)

ROSTERS = {"canvas": CANVAS_ROSTER, "moodle": MOODLE_ROSTER, "csv": PLAIN_ROSTER}
GOLDEN_NAMES = {"canvas": "canvas.csv", "moodle": "moodle.csv", "csv": "plain.csv"}


def write_course(course_dir, ids, grades=GRADES):
    """A course folder whose grades.csv the grader's own writer made from ``grades``."""
    course_dir.mkdir(parents=True, exist_ok=True)
    write_grades_csv(course_dir, [Grade(ids[who], notebook, score=score, max_score=max_score, status=status,
                                        reason=reason[0] if reason else "")
                                  for who, notebook, score, max_score, status, *reason in grades])
    return course_dir


def run_export(*arguments):
    environment = {**os.environ, "PYTHONUTF8": "1"}
    return subprocess.run([sys.executable, "-m", "grader", "export", *map(str, arguments)], cwd=REPO_ROOT,
                          capture_output=True, text=True, encoding="utf-8", env=environment)


@pytest.mark.parametrize("file_format, stderr_lines", [
    ("canvas", ["warning: zed has grades but is not in the roster (no SIS Login ID 'zed'): left out of {out}",
                "warning: Núñez, José (SIS Login ID 'jnunez') is in the roster but has no submission: "
                "grade cells left empty",
                "warning: O'Brien \"Bob\", Robert (SIS Login ID 'bobrien') handed in work the grader refused "
                "(Refused 03_cats_dogs_gradcam: no reason recorded): grade cells left empty"]),
    ("moodle", ["warning: zed@example.edu has grades but is not in the roster "
                "(no Email address 'zed@example.edu'): left out of {out}",
                "warning: José Núñez (Email address 'jose@example.edu') is in the roster but has no submission: "
                "grade cells left empty",
                "warning: Robert \"Bob\" O'Brien, Jr. (Email address 'bob@example.edu') handed in work the grader "
                "refused (Refused 03_cats_dogs_gradcam: no reason recorded): grade cells left empty"]),
    ("csv", ["warning: zed has grades but is not in the roster (no student_id 'zed'): listed without a name",
             "warning: Núñez, José (student_id 'jnunez') is in the roster but has no submission: "
             "grade cells left empty",
             "warning: O'Brien \"Bob\", Robert (student_id 'bobrien') handed in work the grader refused "
             "(Refused 03_cats_dogs_gradcam: no reason recorded): grade cells left empty"]),
])
def test_export_writes_the_golden_file_and_lists_the_mismatches(tmp_path, file_format, stderr_lines):
    course = write_course(tmp_path / "course", IDS[file_format])
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTERS[file_format], encoding="utf-8", newline="")
    out = tmp_path / GOLDEN_NAMES[file_format]
    result = run_export("--format", file_format, "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (GOLDEN / GOLDEN_NAMES[file_format]).read_bytes()
    assert result.stderr.splitlines() == [line.format(out=out) for line in stderr_lines]
    assert "5 roster students, 2 assignments" in result.stdout


def test_id_column_chooses_the_roster_column_that_matches(tmp_path):
    """Canvas' numeric user ID as the grader's student id (a class whose folders are named by it)."""
    ids = {"jane": "101", "bob": "102", "zoe": "103", "mallory": "105", "zed": "999"}
    course = write_course(tmp_path / "course", ids)
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8", newline="")
    out = tmp_path / "canvas.csv"
    result = run_export("--format", "canvas", "--roster", roster, "--course-dir", course, "--id-column", "ID", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (GOLDEN / "canvas.csv").read_bytes()
    assert "999 has grades but is not in the roster (no ID '999')" in result.stderr


@pytest.mark.parametrize("cell, expected", [
    ("=1+1", "'=1+1"), ("+33 6 12", "'+33 6 12"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-1.5", "-1.5"), ("+5", "+5"), ("-3e2", "-3e2"),
    ("6.5", "6.5"), ("O'Brien", "O'Brien"), ("a=b", "a=b"), ("", ""),
])
def test_neutralize_prefixes_formulas_and_keeps_numbers(cell, expected):
    assert neutralize(cell) == expected


def test_points_come_from_the_solution_when_every_submission_was_refused(tmp_path):
    grades = [("jane", "01_mnist_cam", 4, 5, "graded"), ("jane", "03_cats_dogs_gradcam", 0, 0, "refused"),
              ("bob", "03_cats_dogs_gradcam", 0, 0, "refused"), ("bob", "99_no_such_notebook", 0, 0, "refused")]
    course = write_course(tmp_path, {"jane": "jane", "bob": "bob"}, grades)
    scores, points = read_grades(course)
    assert points == {"01_mnist_cam": 5.0, "03_cats_dogs_gradcam": 7.0, "99_no_such_notebook": 0.0}
    assert scores == {"jane": {"01_mnist_cam": 4.0}}   # a refused hand-in has no score (its cell stays empty)


@pytest.mark.parametrize("roster_text, message", [
    (None, "cannot read the roster"),
    (MOODLE_ROSTER, "has no column 'Student', 'ID', 'SIS Login ID'"),
    (CANVAS_ROSTER.replace("mallory", "JDOE"), "the same SIS Login ID on several rows: jdoe"),
    ("Student,ID,SIS Login ID,Section\r\n    Points Possible,,,\r\n", "lists no students"),
    ("", "has no column 'Student', 'ID', 'SIS Login ID' (its columns: none)"),
    ('Student,ID,SIS Login ID,Section\r\n"Müller, Zoë",103,zmuller,A\r\n'.encode("latin-1"), "not a UTF-8 CSV file"),
])
def test_a_roster_the_export_cannot_use_is_a_one_line_error(tmp_path, capsys, roster_text, message):
    course = write_course(tmp_path / "course", IDS["canvas"])
    roster, out = tmp_path / "roster.csv", tmp_path / "canvas.csv"
    if isinstance(roster_text, bytes):
        roster.write_bytes(roster_text)
    elif roster_text is not None:
        roster.write_text(roster_text, encoding="utf-8", newline="")
    status = main(["export", "--format", "canvas", "--roster", str(roster), "--course-dir", str(course), str(out)])
    error = capsys.readouterr().err
    assert status == 2
    assert error.startswith("error: ") and message in error and error.count("\n") == 1, error
    assert not out.exists()


def test_a_course_without_grades_csv_is_a_one_line_error(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8", newline="")
    status = main(["export", "--format", "canvas", "--roster", str(roster), "--course-dir", str(tmp_path / "none"),
                   str(tmp_path / "canvas.csv")])
    error = capsys.readouterr().err
    assert status == 2
    assert error == f"error: {tmp_path / 'none' / 'grades.csv'} not found: run `python -m grader autograde` " \
                    "(or `collect`) first\n"


# ---------------------------------------------------------------- grades from an LMS download (grader.intake.lms)

def write_download_course(course_dir, lms, grades):
    """A course whose grades came from a ``lms`` download: grades.csv, and class.json saying so."""
    write_course(course_dir, {who: who for who, *_ in grades}, grades)
    (course_dir / "class.json").write_text(json.dumps({"lms": lms, "submissions": [], "refusals": []}))
    return course_dir


# Moodle's grading worksheet of one assignment: participant ids, a grade entered by hand (5003)
# and a feedback comment that starts with "=" (written back as it was: Moodle reads it back).
WORKSHEET = (
    "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\r\n"
    'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,,5.00,Yes,"Sunday, 1 March 2026, 11:00 AM",-,\r\n'
    'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 2 hours late,,5.00,Yes,'
    '"Monday, 2 March 2026, 1:00 PM",-,\r\n'
    'Participant 5003,Zoë Müller,zoe@example.edu,No submission,4.00,5.00,Yes,-,"Sunday, 1 March 2026, 3:00 PM",'
    '=see me\r\n'
)


def test_moodle_grades_go_back_into_the_grading_worksheet(tmp_path):
    course = write_download_course(tmp_path / "course", "moodle", [
        ("5001", "01_mnist_cam", 5, 5, "graded"), ("5002", "01_mnist_cam", 2.5, 5, "graded"),
        ("5002", "-", 0, 0, "refused", "notes.pdf: not a notebook of this course; not graded"),
        ("5003", "-", 0, 0, "refused", "essay.pdf: not a notebook of this course; not graded"),
        ("5009", "01_mnist_cam", 1, 5, "graded")])
    roster, out = tmp_path / "worksheet.csv", tmp_path / "graded-worksheet.csv"
    roster.write_text(WORKSHEET, encoding="utf-8", newline="")
    result = run_export("--format", "moodle", "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().decode("utf-8") == (
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\r\n"
        'Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,5,5.00,Yes,'
        '"Sunday, 1 March 2026, 11:00 AM",-,\r\n'
        'Participant 5002,José Núñez,jose@example.edu,Submitted for grading - 1 day 2 hours late,2.5,5.00,Yes,'
        '"Monday, 2 March 2026, 1:00 PM",-,\r\n'   # a graded notebook beside the PDF: no comment
        'Participant 5003,Zoë Müller,zoe@example.edu,No submission,4.00,5.00,Yes,-,"Sunday, 1 March 2026, 3:00 PM",'
        '=see me\r\n')   # the instructor's own comment is kept
    assert "matching on the roster's 'Identifier'" in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: 5009 has grades but is not in the roster (no Identifier '5009'): left out of {out}",
        "warning: Zoë Müller (Identifier 'Participant 5003') handed in work the grader refused (Refused: essay.pdf: "
        "not a notebook of this course; not graded): Grade left as downloaded"]


def test_a_refused_hand_in_is_told_from_a_missing_one_in_the_worksheet_comment(tmp_path):
    """A PDF alone: no grade, and the reason in the empty Feedback comments cell (Moodle reads it back)."""
    course = write_download_course(tmp_path / "course", "moodle", [
        ("5001", "-", 0, 0, "refused", "jane_1_notes.pdf: not a notebook of this course; not graded"),
        ("5003", "01_mnist_cam", 4, 5, "graded")])
    roster, out = tmp_path / "worksheet.csv", tmp_path / "graded-worksheet.csv"
    roster.write_text(WORKSHEET.replace("=see me", ""), encoding="utf-8", newline="")
    result = run_export("--format", "moodle", "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    lines = out.read_bytes().decode("utf-8").splitlines()
    assert lines[1] == ('Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,,5.00,Yes,'
                        '"Sunday, 1 March 2026, 11:00 AM",-,'
                        'Refused: jane_1_notes.pdf: not a notebook of this course; not graded')
    assert lines[2].endswith(",-,") and lines[3].endswith(',"Sunday, 1 March 2026, 3:00 PM",')
    assert result.stderr.splitlines() == [
        "warning: José Núñez (Identifier 'Participant 5002') is in the roster but has no submission: "
        "Grade left as downloaded",
        "warning: Jane Doe (Identifier 'Participant 5001') handed in work the grader refused (Refused: "
        "jane_1_notes.pdf: not a notebook of this course; not graded): Grade left as downloaded"]


def test_a_worksheet_whose_maximum_is_not_the_points_gets_a_warning(tmp_path):
    course = write_download_course(tmp_path / "course", "moodle", [("5001", "01_mnist_cam", 5, 5, "graded")])
    roster, out = tmp_path / "worksheet.csv", tmp_path / "graded-worksheet.csv"
    roster.write_text(WORKSHEET.replace("5.00", "100.00"), encoding="utf-8", newline="")
    result = run_export("--format", "moodle", "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert "Maximum Grade in the worksheet is 100 but the notebooks are worth 5" in result.stderr


def test_moodle_participant_ids_with_a_gradebook_roster_is_a_one_line_error(tmp_path, capsys):
    course = write_download_course(tmp_path / "course", "moodle", [("5001", "01_mnist_cam", 5, 5, "graded")])
    roster, out = tmp_path / "roster.csv", tmp_path / "moodle.csv"
    roster.write_text(MOODLE_ROSTER, encoding="utf-8", newline="")
    status = main(["export", "--format", "moodle", "--roster", str(roster), "--course-dir", str(course), str(out)])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and not out.exists()
    assert "keyed by Moodle participant ids" in error and "Download grading worksheet" in error


def test_canvas_user_ids_from_a_canvas_download_match_the_id_column(tmp_path):
    """No --id-column: class.json says the ids are Canvas user ids; a PDF's refused row (notebook
    "-") is no assignment."""
    grades = [("101", "01_mnist_cam", 5, 5, "graded"), ("101", "03_cats_dogs_gradcam", 6.5, 7, "graded"),
              ("102", "01_mnist_cam", 3, 5, "graded"), ("102", "03_cats_dogs_gradcam", 0, 0, "refused"),
              ("103", "01_mnist_cam", 5, 5, "graded"), ("103", "-", 0, 0, "refused"),
              ("105", "01_mnist_cam", 0, 5, "timeout"), ("105", "03_cats_dogs_gradcam", 7, 7, "graded")]
    course = write_download_course(tmp_path / "course", "canvas", grades)
    roster, out = tmp_path / "roster.csv", tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8", newline="")
    result = run_export("--format", "canvas", "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (GOLDEN / "canvas.csv").read_bytes()
    assert "matching on the roster's 'ID': the grades came from a Canvas submissions download" in result.stdout


def test_the_late_column_says_yes_no_or_nothing_and_old_results_load_without_it(tmp_path):
    from grader.pipeline.results import load_result, save_result

    save_result(tmp_path, Grade("124", "01_mnist_cam", score=5, max_score=5, late=True))
    old = tmp_path / "results" / "jdoe__01_mnist_cam.json"   # saved before the column existed
    old.write_text(json.dumps({"student_id": "jdoe", "notebook": "01_mnist_cam", "score": 3.0, "max_score": 5.0}))
    grades = [load_result(tmp_path, "124", "01_mnist_cam"), load_result(tmp_path, "jdoe", "01_mnist_cam"),
              Grade("123", "01_mnist_cam", score=4, max_score=5, late=False)]
    assert [grade.late for grade in grades] == [True, None, False]
    write_grades_csv(tmp_path, grades)
    rows = (tmp_path / "grades.csv").read_text().splitlines()
    assert rows[0] == "student_id,notebook,score,max_score,status,reason,seconds,late,override,sandboxed"
    assert [row.split(",")[7] for row in rows[1:]] == ["no", "yes", ""]
    assert read_grades(tmp_path)[0] == {"123": {"01_mnist_cam": 4.0}, "124": {"01_mnist_cam": 5.0},
                                        "jdoe": {"01_mnist_cam": 3.0}}   # the score is the score, late or not
