"""SIGKILL the grader half-way through a class, run it again: every grade once, none lost."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

from grader.course import REPO_ROOT, SOLUTIONS_DIR, gradebook_url
from grader.sandbox.processes import kill_tree


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


def test_no_process_outlives_a_grader_killed_with_its_process_group(tmp_path):
    """kill -9 of the grader's process group while kernels run: 5 s later none of its processes is left
    (kernels start sessions of their own, so only their parent-death signal can take them along)."""
    import psutil

    submissions, course_dir = tmp_path / "submissions", tmp_path / "course"
    notebook = json.loads((SOLUTIONS_DIR / "01_mnist_cam.ipynb").read_text())
    notebook["cells"].insert(0, {"cell_type": "code", "execution_count": None, "id": "wait", "metadata": {},
                                 "outputs": [], "source": "import time\ntime.sleep(600)"})
    for student in ("first", "second"):
        (submissions / student).mkdir(parents=True)
        (submissions / student / "01_mnist_cam.ipynb").write_text(json.dumps(notebook))
    command = [*_command(submissions, course_dir)[:-4], "--jobs", "2", "--timeout", "900"]
    grader = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    run = [psutil.Process(grader.pid)]
    try:
        deadline, kernels = time.monotonic() + 600, []
        while len(kernels) < 2 and time.monotonic() < deadline:
            assert grader.poll() is None, "the grader ended before it could be killed"
            time.sleep(0.5)
            run = [psutil.Process(grader.pid), *psutil.Process(grader.pid).children(recursive=True)]
            kernels = [p for p in run if _is_kernel(p)]
        assert len(kernels) == 2, "two kernels did not start"
        assert [os.getpgid(p.pid) != grader.pid for p in kernels] == [True, True]   # out of reach of killpg
        os.killpg(grader.pid, 9)
        grader.wait()
        time.sleep(5)
    finally:   # whatever happened, leave nothing behind for the next test
        if grader.poll() is None:
            os.killpg(grader.pid, 9)
        survivors = [p for p in run[1:] if _alive(p)]
        for process in survivors:
            process.kill()
    left = [p.pid for p in survivors]
    assert left == [], f"{len(left)} process(es) of the killed grader still run: {left}"


def _is_kernel(process):
    """Whether ``process`` is a kernel forked from a job's zygote (grader/sandbox/zygote.py names them)."""
    from grader.sandbox.zygote import KERNEL_PROCESS_NAME

    try:
        return process.name() == KERNEL_PROCESS_NAME.decode()
    except Exception:
        return False


def _alive(process):
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_stops_the_grader_cleanly(tmp_path):
    """SIGTERM (scancel, a time limit, a deleted pod) mid-notebook: the grader exits 143 within
    seconds, leaves no process and no temporary folder, and saves no result for the notebook it
    was grading (the next run grades it)."""
    import psutil

    submissions, course_dir, temporary = tmp_path / "submissions", tmp_path / "course", tmp_path / "tmp"
    notebook = json.loads((SOLUTIONS_DIR / "01_mnist_cam.ipynb").read_text())
    notebook["cells"].insert(0, {"cell_type": "code", "execution_count": None, "id": "wait", "metadata": {},
                                 "outputs": [], "source": "import time\ntime.sleep(600)"})
    (submissions / "slow").mkdir(parents=True)
    (submissions / "slow" / "01_mnist_cam.ipynb").write_text(json.dumps(notebook))
    temporary.mkdir()
    grader = subprocess.Popen(_command(submissions, course_dir), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              env={**os.environ, "TMPDIR": str(temporary)})
    run = [psutil.Process(grader.pid)]
    try:
        deadline = time.monotonic() + 600
        while not any(_is_kernel(p) for p in run) and time.monotonic() < deadline:
            assert grader.poll() is None, "the grader ended before it could be stopped"
            time.sleep(0.5)
            run = [psutil.Process(grader.pid), *psutil.Process(grader.pid).children(recursive=True)]
        time.sleep(1.0)
        grader.terminate()
        assert grader.wait(timeout=30) == 143
        time.sleep(2)
    finally:
        if grader.poll() is None:
            os.killpg(grader.pid, 9)
        survivors = [p for p in run[1:] if _alive(p)]
        for process in survivors:
            process.kill()
    assert [p.pid for p in survivors] == []
    assert list((course_dir / "results").glob("*.json")) == []
    assert sorted(p.name for p in temporary.iterdir()) == []
