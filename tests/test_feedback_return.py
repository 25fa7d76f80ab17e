"""Feedback a student can read, and back to the students through Moodle (issue 26).

One Moodle download ("Download all submissions", folders ``<Full Name>_<participant id>_
assignsubmission_file/``, moodle ``mod/assign/classes/downloader.php``) of two students is graded
as it comes, in a subprocess as an instructor runs it: Jane Doe hands in 01_mnist_cam with the
classic mistake (the CAM of the true label, whose failure message is long) and two cells with the
same id; José Núñez hands in a PDF. One notebook is graded, ``--jobs 1``.
"""

import html
import json
import re
import subprocess
import sys
import zipfile

import pytest
from submissions import build, downloads

from grader.course import REPO_ROOT
from grader.export import feedback_files as feedback_return

FOLDERS = {"5001": "Jane Doe_5001_assignsubmission_file", "5002": "José Núñez_5002_assignsubmission_file"}
# The end of 01's message for a map of the true label: on one line, the old page cut it at "... saw for".
LONG_MESSAGE_END = ("CAM shows what the network saw for its decision: use the predicted class, the argmax of "
                    "results[image_index].")
NOISE = ("E0000", "cuInit", "CUDA", "without encryption", "IPKernelApp", "DuplicateCellId", "Non-unique cell id",
         "MissingIDFieldWarning")


def _with_a_duplicate_cell_id(notebook):
    notebook["cells"][1]["id"] = notebook["cells"][0]["id"]
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The download graded: the course folder and what the grader printed."""
    folder = tmp_path_factory.mktemp("moodle")
    archive = downloads.write_zip(folder / "moodle.zip", [
        (f"{FOLDERS['5001']}/01_mnist_cam.ipynb", _with_a_duplicate_cell_id(build.notebook_01("true_label"))),
        (f"{FOLDERS['5002']}/report.pdf", downloads.PDF)])
    course = folder / "course"
    run = subprocess.run([sys.executable, "-m", "grader", "autograde", str(archive), "--lms", "moodle",
                          "--course-dir", str(course), "--jobs", "1", "--timeout", "300"],
                         cwd=REPO_ROOT, capture_output=True, text=True, encoding="utf-8", timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return {"course": course, "output": run.stdout + run.stderr}


def _page(graded, student_id, name):
    return (graded["course"] / "feedback" / student_id / name / f"{name}.html").read_text(encoding="utf-8")


def test_a_feedback_page_shows_the_whole_message_and_nothing_of_the_grader(graded):
    page = _page(graded, "5001", "01_mnist_cam")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "your map is the CAM of the true label" in text and LONG_MESSAGE_END in text
    assert "white-space: pre-wrap" in page   # wrapped on the screen, not in a box that scrolls sideways
    assert "Added by the grader" not in text and "_grader_capture" not in text and "fixture-" not in text
    assert "/tmp/grade-" not in text and "grader/checks/capture.py" not in text and str(REPO_ROOT) not in text
    assert ('<code>test_show_cam_predicted_class</code></a>: <span class="test-description">show_cam uses the '
            "predicted class, which matters for misclassified digits.</span>") in page
    assert ">Test cell<" not in page


def test_a_pdf_hand_in_gets_a_page_saying_what_to_hand_in(graded):
    page = _page(graded, "5002", "hand-in")
    assert f"{FOLDERS['5002']}/report.pdf: not a notebook" in html.unescape(page)
    assert "<b>What to hand in:</b>" in page and "<code>01_mnist_cam.ipynb</code>" in page


def _moodle_participant(path):
    """The participant id Moodle's "Upload multiple feedback files in a zip" gives a file of the zip,
    or None: moodle ``mod/assign/feedback/file/importziplib.php``,
    ``assignfeedback_file_zip_importer::is_valid_filename_for_import``, which takes each part of the
    path in turn, splits it with ``explode('_', $pathpart, 5)`` and, when it has 4 parts or more,
    reads the second as the participant id (numeric) and the third and fourth as the plugin."""
    for part in path.split("/"):
        info = part.split("_", 4)
        if len(info) >= 4 and info[1].isdigit() and (info[2], info[3]) == ("assignsubmission", "file"):
            return info[1]
    return None


def test_the_moodle_feedback_zip_has_the_download_folder_names(graded):
    """Each page is in its student's folder of the download, which Moodle's importer reads as that student."""
    course = graded["course"]
    with zipfile.ZipFile(course / feedback_return.MOODLE_ZIP) as archive:
        names = sorted(archive.namelist())
        assert names == [f"{FOLDERS['5001']}/01_mnist_cam.html", f"{FOLDERS['5002']}/hand-in.html"]
        assert {name.split("/")[0] for name in names} == set(FOLDERS.values())   # the download's folders
        for name in names:
            student_id = _moodle_participant(name)
            assert name.split("/")[0] == FOLDERS[student_id]
            page = name.split("/")[1][:-len(".html")]
            assert archive.read(name).decode("utf-8") == _page(graded, student_id, page)
    assert f"feedback for Moodle: {course / feedback_return.MOODLE_ZIP} (2 page(s))" in graded["output"]


def test_the_grader_prints_no_start_up_noise(graded):
    """No TensorFlow/CUDA lines, no ipykernel transport warning, no nbformat cell-id warning (the
    notebook has two cells with one id)."""
    assert not [line for line in graded["output"].splitlines() if any(word in line for word in NOISE)]


def test_moodle_folders_of_flat_files_groups_and_old_downloads():
    """Flat files ("Download submissions in folders" off), Moodle 4.0's folders (ending in ``_file_``),
    a group's folder (named after the group, not a participant) and a refused file."""
    assert feedback_return.moodle_folder("Jane Doe_5001_assignsubmission_file_01_mnist_cam.ipynb", "5001") == \
        "Jane Doe_5001_assignsubmission_file"
    assert feedback_return.moodle_folder("Jane Doe_5001_assignsubmission_file_/lab.ipynb", "5001") == \
        "Jane Doe_5001_assignsubmission_file_"
    assert feedback_return.moodle_folder("Team A_42_assignsubmission_file/lab.ipynb", "5001") == \
        "Participant_5001_assignsubmission_file"
    entries = {"submissions": [{"student_id": "5001", "file": "Team A_42_assignsubmission_file/lab.ipynb",
                                "group": "Team A", "members": ["5001", "5003"]}],
               "refusals": [{"student_id": "5002", "reason": "Bo Li_5002_assignsubmission_file/a.pdf: not a notebook"}]}
    assert feedback_return.moodle_members(entries) == {
        "Participant_5001_assignsubmission_file": ("5001", "5001"),
        "Participant_5003_assignsubmission_file": ("5003", "5001"),
        "Bo Li_5002_assignsubmission_file": ("5002", "5002")}
    for folder in ("Jane Doe_5001_assignsubmission_file_", "Participant_5003_assignsubmission_file"):
        assert _moodle_participant(f"{folder}/01_mnist_cam.html") == folder.split("_")[1]


def test_make_run_starts_its_kernels_without_the_transport_warning(tmp_path):
    """``make run`` executes each solution notebook with its own kernel (tools/run_all.py); ipykernel 7
    warned "Kernel is running over TCP without encryption" on the terminal at every start."""
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]),
                   str(tmp_path / "tiny.ipynb"))
    code = ("import sys; from pathlib import Path; from tools.run_all import execute_notebook; "
            "execute_notebook(Path(sys.argv[1]), Path(sys.argv[2]))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tiny.ipynb"), str(tmp_path / "out")],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "42" in (tmp_path / "out" / "tiny.ipynb").read_text()
    noise = [line for line in (run.stdout + run.stderr).splitlines() if any(word in line for word in NOISE)]
    assert not noise, run.stderr


def test_canvas_pages_are_named_as_canvas_named_the_students_files(tmp_path):
    """A Canvas class: every page once more in feedback-canvas/, named ``<name>_<user id>_<page>`` as in the
    download (a group's page for each member, a refused hand-in's page too), to attach in SpeedGrader."""
    entries = {"lms": "canvas",
               "submissions": [{"student_id": "123", "notebook": "01_mnist_cam",
                                "file": "doejane_LATE_123_4567_01_mnist_cam.ipynb"},
                               {"student_id": "130", "notebook": "01_mnist_cam", "group": "Team Falcon",
                                "file": "teamfalcon_130_4570_lab.ipynb", "members": ["130", "131"]}],
               "refusals": [{"student_id": "127", "notebook": "-",
                             "reason": "smithann_127_1006_report.pdf: not a notebook"}]}
    (tmp_path / "class.json").write_text(json.dumps(entries))
    for student_id, name in (("123", "01_mnist_cam"), ("130", "01_mnist_cam"), ("127", "hand-in")):
        page = tmp_path / "feedback" / student_id / name / f"{name}.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"page of {student_id}")
    assert feedback_return.write_canvas_files(tmp_path) == (tmp_path / feedback_return.CANVAS_FOLDER, 4)
    files = {path.name: path.read_text() for path in (tmp_path / feedback_return.CANVAS_FOLDER).iterdir()}
    assert files == {"doejane_123_01_mnist_cam.html": "page of 123", "teamfalcon_130_01_mnist_cam.html": "page of 130",
                     "131_01_mnist_cam.html": "page of 130", "smithann_127_hand-in.html": "page of 127"}
    assert feedback_return.write_moodle_zip(tmp_path) is None   # not a Moodle class
