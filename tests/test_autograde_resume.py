"""SIGKILL the grader half-way through a class, run it again: every grade once, none lost."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

from grader.course import REPO_ROOT, SOLUTIONS_DIR, gradebook_url
from grader.processes import kill_tree


def _class(folder):
    (folder / "a_first").mkdir(parents=True)
    shutil.copyfile(SOLUTIONS_DIR / "01_mnist_cam.ipynb", folder / "a_first" / "01_mnist_cam.ipynb")
    (folder / "b_second").mkdir()
    (folder / "b_second" / "01_mnist_cam.ipynb").write_text("not json")
    # The grader is killed while it runs c_third's notebook (whose kernel crashes a few seconds in).
    notebook = json.loads((SOLUTIONS_DIR / "01_mnist_cam.ipynb").read_text())
    notebook["cells"].insert(0, {"cell_type": "code", "execution_count": None, "id": "crash", "metadata": {},
                                 "outputs": [], "source": "import time, os\ntime.sleep(5)\nos._exit(3)"})
    (folder / "c_third").mkdir()
    (folder / "c_third" / "01_mnist_cam.ipynb").write_text(json.dumps(notebook))


def _command(submissions, course_dir):
    return [sys.executable, "-m", "grader", "autograde", str(submissions), "--course-dir", str(course_dir),
            "--jobs", "1", "--timeout", "300"]


def test_sigkill_then_rerun_finishes_the_class_with_one_row_each(tmp_path):
    submissions, course_dir = tmp_path / "submissions", tmp_path / "course"
    _class(submissions)
    process = subprocess.Popen(_command(submissions, course_dir), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not list((course_dir / "results").glob("*.json")) and time.monotonic() < deadline:
        assert process.poll() is None, "the grader ended before it could be killed"
        time.sleep(0.2)
    time.sleep(1.0)  # let it start the next notebook
    kill_tree(process.pid)  # SIGKILL to the grader, nbgrader and the kernel
    process.wait()
    assert not (course_dir / "grades.csv").exists()
    saved_before = {p.name for p in (course_dir / "results").glob("*.json")}
    assert "a_first__01_mnist_cam.json" in saved_before and len(saved_before) < 3

    rerun = subprocess.run(_command(submissions, course_dir), cwd=REPO_ROOT, capture_output=True, text=True,
                           env=dict(os.environ), timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert "graded a_first/" not in rerun.stdout  # reused, not run again
    with open(course_dir / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student_id"], float(r["score"]), r["status"]) for r in rows] == [
        ("a_first", 5.0, "graded"), ("b_second", 0.0, "invalid"), ("c_third", 0.0, "error")]
    assert sorted(p.name for p in (course_dir / "results").glob("*")) == [
        "a_first__01_mnist_cam.json", "b_second__01_mnist_cam.json", "c_third__01_mnist_cam.json"]
    assert "kernel died" in json.loads((course_dir / "results" / "c_third__01_mnist_cam.json").read_text())["reason"]

    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course_dir)) as gradebook:
        recorded = sorted((s.student.id, s.score) for s in gradebook.assignment_submissions("01_mnist_cam"))
    assert recorded == [("a_first", 5.0)]
