"""Canvas and Moodle as they are today, read and written without grading a notebook (grading is
``tests/test_lms.py``'s): the download forms, anonymous and group work, two candidate notebooks,
a zip inside a download, rosters with ``;`` and worksheets in French, German and Spanish.

Every fixture is written as the platform's code writes it; each test's docstring names the file
and function it follows. Canvas: instructure/canvas-lms (``lib/content_zipper.rb``,
``lib/gradebook_exporter.rb``, ``lib/gradebook_importer.rb``, ``app/models/assignment.rb``,
``app/controllers/group_categories_controller.rb``, ``lib/anonymity.rb``). Moodle: moodle/moodle
(``mod/assign/classes/downloader.php`` and ``tests/downloader_test.php``, ``mod/assign/locallib.php``
up to 4.0, ``mod/assign/gradingtable.php``, ``mod/assign/feedback/offline/importgradeslib.php``)
and the 4.5 language packs (``assign.php``, ``moodle.php`` in fr, de, es, from AMOS as mirrored in
projectestac/odissea ``html/langpacks/``).
"""

import hashlib
import io
import json
import subprocess
import sys
import zipfile

import pytest
from submissions import build, downloads

from grader.course import REPO_ROOT
from grader.intake.submissions import SubmissionSource, find_submissions
from grader.pipeline.collect import write_class_list
from grader.pipeline.results import Grade, write_grades_csv

KNOWN = {"01_mnist_cam", "03_cats_dogs_gradcam"}


def _nb01():
    return build.load_student_notebook("01_mnist_cam")


def _nb03():
    return build.load_student_notebook("03_cats_dogs_gradcam")


def _zipped(members):
    """The bytes of a zip a student made of their work: ``{name: notebook}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, notebook in members.items():
            archive.writestr(name, json.dumps(notebook))
    return buffer.getvalue()


def _found(archive, **options):
    """``(submissions, refusals, notes)`` of a download, as plain tuples: each submission's id,
    notebook, file, the SHA-256 of its bytes, late flag and members."""
    with SubmissionSource(archive) as root:
        submissions, refusals, notes = find_submissions(root, KNOWN, **options)
        found = [(s.student_id, s.assignment, s.source, hashlib.sha256(s.path.read_bytes()).hexdigest()[:12], s.late,
                  getattr(s, "members", ())) for s in submissions]
        return found, [(r.student_id, r.assignment, r.late, r.reason) for r in refusals], notes, submissions, refusals


def _course(tmp_path, lms, submissions, refusals, score):
    """A course folder as autograde leaves it: grades.csv (``score(submission)`` points of 5 for
    each submission, refusals at 0) and class.json (files, groups and members)."""
    course = tmp_path / "course"
    course.mkdir(exist_ok=True)
    grades = [Grade(s.student_id, s.assignment, score=score(s), max_score=5, late=s.late) for s in submissions]
    grades += [Grade(r.student_id, r.assignment, status="refused", reason=r.reason) for r in refusals]
    write_grades_csv(course, grades)
    write_class_list(course, submissions, refusals, {(s.student_id, s.assignment): "k" for s in submissions}, lms=lms)
    return course


def _export(*arguments):
    return subprocess.run([sys.executable, "-m", "grader", "export", *map(str, arguments)], cwd=REPO_ROOT,
                          capture_output=True, text=True, encoding="utf-8")


# ---------------------------------------------------------------- Moodle download forms

def _moodle_download(path, form):
    """Three students and a flat-or-folder form of Moodle's download. ``form``: "4.1" (folders
    ``<prefix>_assignsubmission_file/``: downloader.php, ``load_submissionplugin_filelist``, and
    downloader_test.php's expected ``STUDENT1_STUDENT1.ID_assignsubmission_file/...``), "4.0"
    (``clean_filename($prefix . '_' . $subtype . '_' . $type . '_')`` in locallib.php's
    ``download_submissions``: a trailing ``_``) or "files" ("Download submissions in folders" off:
    ``<prefix>_assignsubmission_file_<file name>``). Blind marking writes "Participant" for the name
    (``get_student_prefix``)."""
    students = [("Jane Doe", "5001", "01_mnist_cam.ipynb", _nb01()), ("José Núñez", "5002", "homework.ipynb", _nb01()),
                ("Participant", "5003", "03_cats_dogs_gradcam.ipynb", _nb03())]
    end = {"4.1": "/", "4.0": "_/", "files": "_"}[form]
    return downloads.write_zip(path, [(f"{name}_{number}_assignsubmission_file{end}{file}", notebook)
                                      for name, number, file, notebook in students])


def test_moodle_41_and_40_folders_and_flat_files_give_the_same_grades(tmp_path):
    """Moodle 4.1+ folders (no ``_`` after ``file``), the folders of Moodle 4.0 and before, and the
    flat files hold the same notebooks for the same participant ids: grading a notebook depends on
    nothing else, so they get the same grades (tests/test_lms.py grades the 4.1+ form)."""
    found = {form: _found(_moodle_download(tmp_path / f"{form}.zip", form))[:2] for form in ("4.1", "4.0", "files")}
    ids = {form: [(student, notebook, digest) for student, notebook, _, digest, *_ in submissions]
           for form, (submissions, _) in found.items()}
    assert ids["4.1"] == [("5001", "01_mnist_cam", ids["4.1"][0][2]), ("5002", "01_mnist_cam", ids["4.1"][1][2]),
                          ("5003", "03_cats_dogs_gradcam", ids["4.1"][2][2])]
    assert ids["4.0"] == ids["4.1"] and ids["files"] == ids["4.1"]
    assert all(refusals == [] for _, refusals in found.values())
    assert found["4.1"][0][0][2] == "Jane Doe_5001_assignsubmission_file/01_mnist_cam.ipynb"


# ---------------------------------------------------------------- Canvas anonymous grading

ANONYMOUS_DOWNLOAD = [
    # ContentZipper#get_filename: no name when anonymize_students?, "LATE" when late, then anon_<id>
    # (Anonymity.generate_short_id: 5 base58 characters); add_upload_submission adds _<attachment id>_<name>.
    ("LATE_anon_Kq7Zp_78002_01_mnist_cam.ipynb", "late"),
    ("anon_Hn4tW_78003_MyHomework.ipynb", "renamed"),
    ("anon_w9Qrs_text.html", "text"),          # add_text_or_url: <prefix>_text.html
]
# The same files downloaded again once the grades are posted: Canvas names them by user id and keeps
# their attachment ids.
POSTED_DOWNLOAD = ["doejane_LATE_123_78002_01_mnist_cam.ipynb", "smithann_124_78003_MyHomework.ipynb",
                   "wonglee_125_text.html"]
# GradebookExporter#csv_data for an anonymous assignment with unposted grades: the hidden row
# ("Manual Posting (scores hidden from instructors)": hidden_assignment_text) and "N/A" cells.
ANONYMOUS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (311)\r\n"
    ",,,,,Manual Posting (scores hidden from instructors)\r\n"
    "    Points Possible,,,,,5\r\n"
    '"Doe, Jane",123,S123,jdoe,Section A,N/A\r\n'
    '"Smith, Ann",124,S124,asmith,Section A,N/A\r\n'
    '"Wong, Lee",125,S125,lwong,Section B,N/A\r\n'
)


def test_a_canvas_anonymous_download_gives_anonymous_ids_and_one_late_flag(tmp_path):
    """lib/content_zipper.rb ``get_filename`` (anonymous: ``anon_<submission.anonymous_id>``, no
    name), ``add_upload_submission``, ``add_text_or_url``; lib/anonymity.rb ``generate_short_id``."""
    content = {"late": _nb01(), "renamed": _nb01(), "text": "<p>see the attachment</p>"}
    archive = downloads.write_zip(tmp_path / "anonymous.zip",
                                  [(name, content[kind]) for name, kind in ANONYMOUS_DOWNLOAD])
    submissions, refusals, notes, *_ = _found(archive)
    assert [(s, a, f, late) for s, a, f, _, late, _ in submissions] == [
        ("anon_Hn4tW", "01_mnist_cam", "anon_Hn4tW_78003_MyHomework.ipynb", False),
        ("anon_Kq7Zp", "01_mnist_cam", "LATE_anon_Kq7Zp_78002_01_mnist_cam.ipynb", True)]
    assert refusals == [("anon_w9Qrs", "-", False, "anon_w9Qrs_text.html: not a notebook; not graded")]
    assert notes == ["anon_Hn4tW_78003_MyHomework.ipynb: recognized as 01_mnist_cam by its cells"]


def test_anonymous_grades_reach_the_roster_through_the_download_after_posting(tmp_path):
    """The roster exported with anonymous grading (lib/gradebook_exporter.rb: hidden row, "N/A")
    lists no anonymous id; ``--unmask`` takes the download made after posting, whose names carry
    user ids (content_zipper.rb ``get_filename``) and the same attachment ids, and the grades land
    in "Lab 1 (311)" for users 123 and 124 (lib/gradebook_importer.rb finds them by ``ID``)."""
    content = {"late": _nb01(), "renamed": _nb01(), "text": "x"}
    archive = downloads.write_zip(tmp_path / "anonymous.zip",
                                  [(name, content[kind]) for name, kind in ANONYMOUS_DOWNLOAD])
    *_, submissions, refusals = _found(archive)
    course = _course(tmp_path, "canvas", submissions, refusals,
                     lambda s: {"anon_Kq7Zp": 5, "anon_Hn4tW": 3}[s.student_id])
    roster, out = tmp_path / "gradebook.csv", tmp_path / "import.csv"
    roster.write_text(ANONYMOUS_ROSTER, encoding="utf-8", newline="")
    refused = _export("--format", "canvas", "--roster", roster, "--course-dir", course, out)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--unmask" in refused.stderr
    posted = downloads.write_zip(tmp_path / "posted.zip", [(name, "x") for name in POSTED_DOWNLOAD])
    result = _export("--format", "canvas", "--roster", roster, "--course-dir", course, "--unmask", posted, out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == (
        "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (311)\n"
        "Points Possible,,,,,5\n"
        '"Doe, Jane",123,S123,jdoe,Section A,5\n'
        '"Smith, Ann",124,S124,asmith,Section A,3\n'
        '"Wong, Lee",125,S125,lwong,Section B,\n')
    assert "Lab 1 (311) <- 01_mnist_cam" in result.stdout
    assert "2 anonymous ids matched to user ids" in result.stderr
    assert "exported while Lab 1 (311) was anonymous with its grades unposted" in result.stderr


# ---------------------------------------------------------------- group work

# Canvas's group set export (GroupCategoriesController#export, export_headers and build_row):
# the sortable name, canvas_user_id, user_id (SIS), login_id, sections, group_name, canvas_group_id,
# group_id (SIS); a student in no group has an empty group_name.
CANVAS_GROUPS = (
    "name,canvas_user_id,user_id,login_id,sections,group_name,canvas_group_id,group_id\n"
    '"Doe, Jane",201,S201,jdoe,Section A,Team Falcon,71,\n'
    '"Smith, Ann",202,S202,asmith,Section A,Team Falcon,71,\n'
    '"Núñez, José",203,S203,jnunez,Section A,Lab_2 Owls,72,\n'
    '"Müller, Zoë",204,S204,zmuller,Section B,Lab_2 Owls,72,\n'
    '"Wong, Lee",205,S205,lwong,Section B,,,\n'
)
# Assignment#representatives renames each group's representative to the group; ContentZipper's
# get_user_name + sanitize_user_name + sanitize_file_name squeeze it ("Lab_2 Owls" -> "lab_2owls");
# a student in no group is a phony group of their own, named after them.
CANVAS_GROUP_DOWNLOAD = ["teamfalcon_201_9001_01_mnist_cam.ipynb", "lab_2owls_LATE_204_9002_01_mnist_cam.ipynb",
                         "leewong_205_9003_01_mnist_cam.ipynb"]
CANVAS_GROUP_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Lab 1 (311)\r\n"
    "    Points Possible,,,,,5\r\n"
    + "".join(f'"{name}",{number},S{number},{login},Section A,\r\n' for name, number, login in [
        ("Doe, Jane", 201, "jdoe"), ("Smith, Ann", 202, "asmith"), ("Núñez, José", 203, "jnunez"),
        ("Müller, Zoë", 204, "zmuller"), ("Wong, Lee", 205, "lwong")]))


def test_a_canvas_group_download_gives_every_member_the_group_grade(tmp_path):
    """app/models/assignment.rb ``representatives`` (one representative per group, renamed to the
    group), lib/content_zipper.rb ``get_user_name``/``sanitize_user_name``/``get_filename``;
    app/controllers/group_categories_controller.rb ``export``. Each group's notebook is found once;
    export gives its grade to every member; the student in no group keeps their own."""
    archive = downloads.write_zip(tmp_path / "groups.zip", [(name, _nb01()) for name in CANVAS_GROUP_DOWNLOAD])
    groups = tmp_path / "groups.csv"
    groups.write_text(CANVAS_GROUPS, encoding="utf-8")
    submissions, refusals, notes, found, refused = _found(archive, groups=groups)
    assert [(s, late, members) for s, _, _, _, late, members in submissions] == [
        ("201", False, ("201", "202")), ("204", True, ("203", "204")), ("205", False, ())]
    assert refusals == []
    assert "group 'Team Falcon': graded once as user 201 (teamfalcon_201_9001_01_mnist_cam.ipynb); its grade goes " \
           "to 201, 202 (export)" in notes
    course = _course(tmp_path, "canvas", found, refused, lambda s: {"201": 5, "204": 4, "205": 2}[s.student_id])
    roster, out = tmp_path / "gradebook.csv", tmp_path / "import.csv"
    roster.write_text(CANVAS_GROUP_ROSTER, encoding="utf-8", newline="")
    result = _export("--format", "canvas", "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert [line.rsplit(",", 1)[1] for line in out.read_text(encoding="utf-8").splitlines()[2:]] == \
        ["5", "5", "4", "4", "2"]
    assert "group 'Lab_2 Owls': 204's 01_mnist_cam grade goes to 203 too" in result.stdout
    assert result.stderr == ""


# The grading worksheet of a team assignment (gradingtable.php: the "Group" column, col_team: the
# group's name or get_string('defaultteam') = "Default group" for students in no group).
TEAM_WORKSHEET = (
    "Identifier,Full name,Email address,Status,Group,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade)\n"
    "Participant 5001,Jane Doe,jane@example.edu,Submitted for grading,Team Falcon,,5.00,Yes,"
    "\"Sunday, 1 March 2026\",-\n"
    "Participant 5002,Ann Smith,ann@example.edu,Submitted for grading,Team Falcon,,5.00,Yes,"
    "\"Sunday, 1 March 2026\",-\n"
    "Participant 5003,José Núñez,jose@example.edu,Submitted for grading - 1 day 2 hours late,Lab_2 Owls,,5.00,Yes,"
    "\"Monday, 2 March 2026\",-\n"
    "Participant 5004,Zoë Müller,zoe@example.edu,Submitted for grading - 1 day 2 hours late,Lab_2 Owls,,5.00,Yes,"
    "\"Monday, 2 March 2026\",-\n"
    "Participant 5005,Lee Wong,lee@example.edu,Submitted for grading,Default group,,5.00,Yes,"
    "\"Sunday, 1 March 2026\",-\n"
    "Participant 5006,Bo Chen,bo@example.edu,Submitted for grading,Default group,,5.00,Yes,\"Sunday, 1 March 2026\",-\n"
)


def test_a_moodle_team_download_gives_every_member_the_group_grade(tmp_path):
    """mod/assign/classes/downloader.php ``get_student_prefix`` (team: ``clean_filename`` of the group
    name with ``_`` made a space, then ``_<group id>``; "Default group" without an id) and
    downloader_test.php ("All users with users in the default team": one DEFAULTTEAM folder);
    gradingtable.php ``col_team`` for the worksheet. Each team's notebook is found once under its
    first participant; the worksheet written back gives every member the grade."""
    archive = downloads.write_zip(tmp_path / "teams.zip", [
        ("Team Falcon_71_assignsubmission_file/01_mnist_cam.ipynb", _nb01()),
        ("Lab 2 Owls_72_assignsubmission_file/01_mnist_cam.ipynb", _nb01()),
        ("Default group_assignsubmission_file/01_mnist_cam.ipynb", _nb01()),
        ("Team Ghost_73_assignsubmission_file/01_mnist_cam.ipynb", _nb01())])
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(TEAM_WORKSHEET, encoding="utf-8")
    submissions, refusals, notes, found, refused = _found(archive, worksheet=worksheet)
    assert [(s, late, members) for s, _, _, _, late, members in submissions] == [
        ("5001", False, ("5001", "5002")), ("5003", True, ("5003", "5004")), ("5005", False, ("5005", "5006"))]
    assert refusals == [("73", "-", None, "Team Ghost_73_assignsubmission_file/01_mnist_cam.ipynb: group 'Team Ghost' "
                                         "is in no row of the worksheet's Group column, so its members are unknown; "
                                         "not graded")]
    course = _course(tmp_path, "moodle", found, refused, lambda s: {"5001": 5, "5003": 4, "5005": 2.5}[s.student_id])
    out = tmp_path / "upload.csv"
    result = _export("--format", "moodle", "--roster", worksheet, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert [line.split(",")[5] for line in out.read_text(encoding="utf-8").splitlines()[1:]] == \
        ["5", "5", "4", "4", "2.5", "2.5"]
    without = _found(archive)
    assert [s for s, *_ in without[0]] == ["71", "72", "73"] and without[1][0][3].startswith(
        "Default group_assignsubmission_file/01_mnist_cam.ipynb: a submission of Moodle's default group")


# ---------------------------------------------------------------- one notebook per submission

def test_a_group_named_like_another_students_id_does_not_take_their_row(tmp_path):
    """The red team's second round. ``ContentZipper#get_filename`` drops only non-word characters, so
    a group named ``roemallory_777_1`` (students may name their groups) gives its representative 888's
    file the name ``roemallory_777_1_888_5002_…``, which reads as user 777's. That file is refused
    (its name could be another user's and 777's own file is named otherwise); 777's own file is found.
    A student's own file named like ``12_34_notes.ipynb`` under that student's name is not doubted."""
    archive = downloads.write_zip(tmp_path / "canvas.zip", [
        ("roemallory_777_1_888_5002_01_mnist_cam.ipynb", _nb01()),
        ("doejane_777_5001_01_mnist_cam.ipynb", _nb01()),
        ("smithbob_778_5003_01_mnist_cam.ipynb", _nb01()),
        ("smithbob_778_5004_12_34_notes_03.ipynb", _nb03())])
    found, refused, *_ = _found(archive, lms="canvas")
    assert [(student, notebook, source) for student, notebook, source, *_ in found] == [
        ("777", "01_mnist_cam", "doejane_777_5001_01_mnist_cam.ipynb"),
        ("778", "01_mnist_cam", "smithbob_778_5003_01_mnist_cam.ipynb"),
        ("778", "03_cats_dogs_gradcam", "smithbob_778_5004_12_34_notes_03.ipynb")]
    assert len(refused) == 1 and refused[0][3].startswith("roemallory_777_1_888_5002_01_mnist_cam.ipynb: its name "
                                                          "reads as user 777's, whose other files are named 'doejane'")


def test_two_candidate_notebooks_in_one_submission_are_a_refused_row_naming_both(tmp_path):
    """Both platforms' downloads hold only the current attempt (content_zipper.rb
    ``get_uploaded_files_from``: the submission's attachment_ids; downloader.php: the submission's
    files), so two files that are both 01 are the student's choice: a refused row naming both.
    The third student's notebook is inside a zip they made: it is opened and found."""
    canvas = downloads.write_zip(tmp_path / "canvas.zip", [
        ("doejane_123_1001_01_mnist_cam.ipynb", _nb01()),
        ("doejane_123_1002_MyHomework.ipynb", _nb01()),
        ("doejane_123_1003_03_cats_dogs_gradcam.ipynb", _nb03()),
        ("smithann_124_1004_work.zip", _zipped({"work/01_mnist_cam.ipynb": _nb01(), "__MACOSX/._x": {}}))])
    submissions, refusals, *_ = _found(canvas)
    assert [(s, a, f) for s, a, f, *_ in submissions] == [
        ("123", "03_cats_dogs_gradcam", "doejane_123_1003_03_cats_dogs_gradcam.ipynb"),
        ("124", "01_mnist_cam", "smithann_124_1004_work.zip/work/01_mnist_cam.ipynb")]
    assert refusals == [("123", "01_mnist_cam", False, "2 files are 01_mnist_cam in one submission: "
                         "doejane_123_1001_01_mnist_cam.ipynb and doejane_123_1002_MyHomework.ipynb; the grader cannot "
                         "tell which to grade: remove the others from the download and run again")]
    moodle = downloads.write_zip(tmp_path / "moodle.zip", [
        ("Zoë Müller_5003_assignsubmission_file/01_mnist_cam.ipynb", _nb01()),
        ("Zoë Müller_5003_assignsubmission_file/01_mnist_cam (1).ipynb", _nb01())])
    _, refusals, *_ = _found(moodle)
    assert [(s, a) for s, a, *_ in refusals] == [("5003", "01_mnist_cam")]
    assert refusals[0][3].startswith("2 files are 01_mnist_cam in one submission: "
                                     "Zoë Müller_5003_assignsubmission_file/01_mnist_cam (1).ipynb and "
                                     "Zoë Müller_5003_assignsubmission_file/01_mnist_cam.ipynb")


def test_a_zip_in_a_download_that_cannot_be_opened_is_a_refused_row(tmp_path):
    """A student's zip whose member would land outside it is opened by nothing (extract_zip's check)."""
    canvas = downloads.write_zip(tmp_path / "canvas.zip", [
        ("doejane_123_1001_work.zip", _zipped({"../../01_mnist_cam.ipynb": _nb01()})),
        ("smithann_124_1002_01_mnist_cam.ipynb", _nb01())])
    submissions, refusals, *_ = _found(canvas)
    assert [s for s, *_ in submissions] == ["124"]
    assert [(s, a, late) for s, a, late, _ in refusals] == [("123", "-", False)]
    assert refusals[0][3].startswith("doejane_123_1001_work.zip: a zip that cannot be opened (") and \
        refusals[0][3].endswith("points outside the archive); not graded")


# ---------------------------------------------------------------- Canvas rosters

# GradebookExporter with ";" as separator (lib/csv_with_i18n.rb determine_column_separator: the
# use_semi_colon_field_separators_in_gradebook_exports user setting), no byte-order mark.
SEMICOLON_ROSTER = (
    "Student;ID;SIS User ID;SIS Login ID;Section;Lab 1 (311);Quiz 2 (312);Current Score\r\n"
    "    Points Possible;;;;;5;10;(read only)\r\n"
    '"Doe, Jane";123;S123;jdoe;Section A;;8;80\r\n'
    '"Smith, Ann";124;S124;asmith;Section A;;9;90\r\n'
    '"Wong, Lee";125;S125;lwong;Section B;;7;70\r\n'
)


def _canvas_course(tmp_path, grades):
    """A course folder graded from a Canvas download: ``grades`` in its grades.csv."""
    course = tmp_path / "course"
    course.mkdir()
    write_grades_csv(course, grades)
    (course / "class.json").write_text(json.dumps({"lms": "canvas", "submissions": [], "refusals": []}))
    return course


def test_a_semicolon_roster_gets_the_grades_in_its_assignment_column_and_no_new_one(tmp_path):
    """lib/gradebook_exporter.rb ``csv_data`` (header, ``title_with_id`` columns, Points Possible
    row) with lib/csv_with_i18n.rb's ``;``; lib/gradebook_importer.rb ``identify_delimiter`` and
    ``parse_assignments`` read the file written back: the grades are in "Lab 1 (311)" (its id kept)
    and no header names an assignment Canvas does not have."""
    course = _canvas_course(tmp_path, [Grade("123", "01_mnist_cam", score=5, max_score=5),
                                       Grade("124", "01_mnist_cam", score=2.5, max_score=5)])
    roster, out = tmp_path / "gradebook.csv", tmp_path / "import.csv"
    roster.write_text(SEMICOLON_ROSTER, encoding="utf-8", newline="")
    several = _export("--format", "canvas", "--roster", roster, "--course-dir", course, out)
    assert several.returncode == 2 and "choose the one these grades belong to with --assignment" in several.stderr
    result = _export("--format", "canvas", "--roster", roster, "--course-dir", course, "--assignment", "Lab 1", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().decode("utf-8") == (
        "Student;ID;SIS User ID;SIS Login ID;Section;Lab 1 (311)\r\n"
        "Points Possible;;;;;5\r\n"
        "Doe, Jane;123;S123;jdoe;Section A;5\r\n"
        "Smith, Ann;124;S124;asmith;Section A;2.5\r\n"
        "Wong, Lee;125;S125;lwong;Section B;\r\n")
    assert "Lab 1 (311) <- 01_mnist_cam" in result.stdout


def test_a_last_name_first_name_roster_with_a_byte_order_mark(tmp_path):
    """GradebookExporter's ``show_student_first_last_name`` header (``LastName``, ``FirstName``)
    and csv_with_i18n.rb's ``include_bom?``; its only assignment receives the sum of the notebooks."""
    course = _canvas_course(tmp_path, [Grade("123", "01_mnist_cam", score=5, max_score=5),
                                       Grade("123", "03_cats_dogs_gradcam", score=6.5, max_score=7)])
    roster, out = tmp_path / "gradebook.csv", tmp_path / "import.csv"
    roster.write_text("\ufeffLastName,FirstName,ID,SIS Login ID,Section,Labs (311)\r\n"
                      "    Points Possible,,,,,12\r\nDoe,Jane,123,jdoe,Section A,\r\n", encoding="utf-8", newline="")
    result = _export("--format", "canvas", "--roster", roster, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").splitlines() == [
        "Student,ID,SIS User ID,SIS Login ID,Section,Labs (311)", "Points Possible,,,,,12",
        '"Doe, Jane",123,,jdoe,Section A,11.5']
    assert "Labs (311) <- 01_mnist_cam + 03_cats_dogs_gradcam (their sum)" in result.stdout


# ---------------------------------------------------------------- Moodle worksheets in other languages

# gradingtable.php's download columns with the 4.5 strings: recordid (hiddenuser + id, no space in
# these languages), fullname, status (submissionstatus_submitted, submittedlateshort), gradenoun,
# maxgrade (format_float: decimal comma), gradecanbechanged, lastmodifiedsubmission, lastmodifiedgrade.
WORKSHEETS = {
    "fr": ("Identifiant,Nom complet,Statut,Note,Note maximale,La note peut être modifiée,"
           "Dernière modification (travail remis),Dernière modification (note)\n"
           'Participant5001,Jeanne Dupont,Remis pour évaluation,,"5,00",Oui,"dimanche 1 mars 2026, 11:00",-\n'
           'Participant5002,José Núñez,Remis pour évaluation - En retard de 1 jour 2 heures,,"5,00",Oui,'
           '"lundi 2 mars 2026, 13:00",-\n'
           'Participant5003,Zoé Martin,Pas de travail remis,,"5,00",Oui,-,-\n'),
    "de": ("\ufeffID,Vollständiger Name,Status,Bewertung,Bestwertung,Bewertung kann geändert werden,"
           "Zuletzt geändert (Abgabe),Zuletzt geändert (Bewertung)\n"
           'Teilnehmer/in5001,Jana Schmidt,Zur Bewertung abgegeben,,"5,00",Ja,"Sonntag, 1. März 2026, 11:00",-\n'
           'Teilnehmer/in5002,José Núñez,Zur Bewertung abgegeben - 1 Tag 2 Stunden zu spät,,"5,00",Ja,'
           '"Montag, 2. März 2026, 13:00",-\n'
           'Teilnehmer/in5003,Zoë Müller,Keine Abgabe,,"5,00",Ja,-,-\n'),
    "es": ("Identificador,Nombre completo,Estado,Calificación,Calificación máxima,La calificación puede ser cambiada,"
           "Última modificación (entrega),Última modificación (calificación)\n"
           'Participante5001,Juana Pérez,Enviado para calificar,,"5,00",Sí,"domingo, 1 de marzo de 2026, 11:00",-\n'
           'Participante5002,José Núñez,Enviado para calificar - 1 día 2 horas después,,"5,00",Sí,'
           '"lunes, 2 de marzo de 2026, 13:00",-\n'
           'Participante5003,Zoë García,Sin entrega,,"5,00",Sí,-,-\n'),
}


@pytest.mark.parametrize("language", sorted(WORKSHEETS))
def test_french_german_and_spanish_worksheets_round_trip(tmp_path, language):
    """Late flags from the localized status (``col_status``: parts joined with " - ",
    ``submittedlateshort``) and the grades written back into the localized grade column with the
    worksheet's decimal comma, every other byte as the file had it (the German one with a
    byte-order mark), for importgradeslib.php (which finds the columns by name and the id after
    ``hiddenuser``)."""
    archive = downloads.write_zip(tmp_path / "moodle.zip", [
        (f"Student_{number}_assignsubmission_file/01_mnist_cam.ipynb", _nb01()) for number in ("5001", "5002")])
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(WORKSHEETS[language], encoding="utf-8", newline="")
    submissions, refusals, _, found, refused = _found(archive, worksheet=worksheet)
    assert [(s, late) for s, _, _, _, late, _ in submissions] == [("5001", False), ("5002", True)] and refusals == []
    course = _course(tmp_path, "moodle", found, refused, lambda s: {"5001": 5, "5002": 2.5}[s.student_id])
    out = tmp_path / "upload.csv"
    result = _export("--format", "moodle", "--roster", worksheet, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    expected = WORKSHEETS[language].replace(",,\"5,00\"", ",5,\"5,00\"", 1)
    expected = expected.replace(",,\"5,00\"", ",\"2,5\",\"5,00\"", 1)
    assert out.read_bytes().decode("utf-8") == expected.replace("\n", "\r\n")
    assert result.stderr.splitlines()[-1].endswith("is in the roster but has no submission: Grade left as downloaded")


def test_a_blind_marking_worksheet_has_no_full_name_and_still_round_trips(tmp_path):
    """gradingtable.php without ``viewblinddetails``: only the record id identifies a row (no
    ``fullname`` column); export used to exit 2 on it."""
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text("Identifier,Status,Grade,Maximum Grade,Grade can be changed,Last modified (submission),"
                         "Last modified (grade)\nParticipant 5001,Submitted for grading,,5.00,Yes,-,-\n"
                         "Participant 5002,No submission,,5.00,Yes,-,-\n", encoding="utf-8")
    course = tmp_path / "course"
    course.mkdir()
    write_grades_csv(course, [Grade("5001", "01_mnist_cam", score=4, max_score=5)])
    (course / "class.json").write_text(json.dumps({"lms": "moodle", "submissions": [], "refusals": []}))
    out = tmp_path / "upload.csv"
    result = _export("--format", "moodle", "--roster", worksheet, "--course-dir", course, out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").splitlines()[1] == "Participant 5001,Submitted for grading,4,5.00,Yes,-,-"
    assert result.stderr == ("warning: Participant 5002 (Identifier 'Participant 5002') is in the roster but has no "
                             "submission: Grade left as downloaded\n")


def test_a_line_break_inside_a_cell_does_not_change_the_separator(tmp_path):
    """A feedback comment over two lines (the worksheet's feedback column, gradingtable.php) is one
    record: the separator is guessed from records, as lib/gradebook_importer.rb guesses it from
    the first three lines of files whose cells hold no line break."""
    from grader.tables import read_table

    path = tmp_path / "worksheet.csv"
    path.write_text('Identifier,Status,Grade,Feedback comments\nParticipant 5001,Submitted for grading,4,"Good work\n'
                    'see me"\n', encoding="utf-8")
    table = read_table(path, "the worksheet")
    assert table.delimiter == "," and table.rows == [["Participant 5001", "Submitted for grading", "4",
                                                      "Good work\nsee me"]]
