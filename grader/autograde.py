"""``python -m grader autograde SUBMISSIONS --course-dir DIR``: grade a class with nbgrader.

SUBMISSIONS holds ``<student_id>/<notebook>.ipynb``. Each notebook is copied into the
nbgrader course directory, autograded by nbgrader in its own process (test cells that were
edited or deleted are restored from the source), and scored from the gradebook. A
submission that is not a notebook, crashes the grader or runs past the timeout scores 0
with its reason; the others are graded as usual. Results: ``DIR/grades.csv``, one HTML
feedback file per student and notebook under ``DIR/feedback``, and a table on stdout.
"""

import csv
import html
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from grader.course import assignment_names, gradebook_url, prepare_course, run_nbgrader, tail

CSV_COLUMNS = ["student_id", "notebook", "score", "max_score", "status", "reason", "seconds"]
STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")


@dataclass
class Grade:
    """One row of ``grades.csv``."""

    student_id: str
    notebook: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"   # graded | error | timeout | memory | invalid
    reason: str = ""
    seconds: float = 0.0
    failed_tests: list = field(default_factory=list)


def find_submissions(submissions_dir, known_assignments):
    """List ``(student_id, assignment, path)`` under ``submissions_dir`` and notes on what was skipped."""
    submissions, notes = [], []
    for student_dir in sorted(Path(submissions_dir).iterdir()):
        if student_dir.name.startswith(".") or not student_dir.is_dir():
            if not student_dir.name.startswith("."):
                notes.append(f"ignored {student_dir.name}: not a student folder")
            continue
        if not STUDENT_ID_PATTERN.match(student_dir.name):
            notes.append(f"skipped folder {student_dir.name!r}: a student id may hold letters, digits and _.@+- only")
            continue
        for path in sorted(student_dir.iterdir()):
            if path.suffix != ".ipynb":
                if not path.name.startswith("."):
                    notes.append(f"ignored {student_dir.name}/{path.name}: not a notebook file")
                continue
            if path.stem not in known_assignments:
                notes.append(f"ignored {student_dir.name}/{path.name}: no such notebook in this course")
                continue
            submissions.append((student_dir.name, path.stem, path))
    return submissions, notes


def _read_notebook(path):
    """Return ``(notebook, None)`` or ``(None, reason)`` when the file is not a readable notebook."""
    try:
        notebook = nbformat.read(str(path), as_version=4)
        nbformat.validate(notebook)
        return notebook, None
    except Exception as error:  # JSON errors, schema errors, unreadable files
        message = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        return None, f"not a valid notebook ({message[:200]})"


def _scores_from_gradebook(course_dir, assignment, student_id):
    """``(score, max_score, failed test names)`` of the student's autograded notebook."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course_dir)) as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student_id)
        failed = sorted(g.name for g in submission.grades if (g.score or 0) < g.max_score)
        return float(submission.score), float(submission.max_score), failed


def _max_score(course_dir, assignment):
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course_dir)) as gradebook:
        return float(gradebook.find_notebook(assignment, assignment).max_score)


def _forget_submission(course_dir, assignment, student_id):
    """Drop a stale gradebook entry so a failed regrade cannot leave an old score behind."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(course_dir)) as gradebook:
        try:
            gradebook.remove_submission(assignment, student_id)
        except MissingEntry:
            pass


def _failure_reason(output, timed_out, timeout_seconds):
    if timed_out:
        return f"ran longer than the {timeout_seconds:g} s limit and was stopped"
    for pattern in ("DeadKernelError", "CellTimeoutError", "Kernel died", "TimeoutError"):
        if pattern in (output or ""):
            return {"CellTimeoutError": f"a cell ran longer than the {timeout_seconds:g} s limit",
                    "TimeoutError": f"a cell ran longer than the {timeout_seconds:g} s limit"}.get(
                pattern, "the notebook's kernel died (crash or out of memory)")
    last = tail(output, 1).strip()
    return f"nbgrader could not grade it: {last[:300]}" if last else "nbgrader could not grade it"


def grade_submission(course_dir, student_id, assignment, path, timeout_seconds, memory_limit_bytes=None):
    """Autograde one submission; always returns a :class:`Grade`, never raises for bad input."""
    started = time.monotonic()
    grade = Grade(student_id, assignment, max_score=_max_score(course_dir, assignment))
    notebook, problem = _read_notebook(path)
    target_dir = Path(course_dir) / "submitted" / student_id / assignment
    for step in ("submitted", "autograded", "feedback"):
        shutil.rmtree(Path(course_dir) / step / student_id / assignment, ignore_errors=True)
    if notebook is None:
        _forget_submission(course_dir, assignment, student_id)
        grade.status, grade.reason = "invalid", problem
    else:
        target_dir.mkdir(parents=True)
        nbformat.write(notebook, str(target_dir / f"{assignment}.ipynb"))
        result = run_nbgrader(
            ["autograde", assignment, "--student", student_id, "--force",
             f"--Execute.timeout={max(1, int(timeout_seconds))}", "--Execute.interrupt_on_timeout=False"],
            course_dir, timeout_seconds=timeout_seconds, memory_limit_bytes=memory_limit_bytes,
        )
        autograded = Path(course_dir) / "autograded" / student_id / assignment / f"{assignment}.ipynb"
        if result.returncode == 0 and autograded.exists():
            grade.score, grade.max_score, grade.failed_tests = _scores_from_gradebook(course_dir, assignment, student_id)
            grade.reason = ("failed: " + ", ".join(grade.failed_tests)) if grade.failed_tests else "all tests passed"
        else:
            _forget_submission(course_dir, assignment, student_id)
            shutil.rmtree(autograded.parent, ignore_errors=True)
            if result.out_of_memory:
                grade.status = "memory"
                grade.reason = f"used more than the {memory_limit_bytes / 2**30:g} GiB memory cap and was stopped"
            else:
                grade.status = "timeout" if result.timed_out or "Timeout" in (result.stdout or "") else "error"
                grade.reason = _failure_reason(result.stdout, result.timed_out, timeout_seconds)
    grade.seconds = round(time.monotonic() - started, 1)
    return grade


def _write_failure_feedback(course_dir, grade):
    folder = Path(course_dir) / "feedback" / grade.student_id / grade.notebook
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{grade.notebook}.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback</title></head><body>"
        f"<h1>{html.escape(grade.notebook)}: {grade.score:g} / {grade.max_score:g}</h1>"
        f"<p>Your notebook could not be graded: {html.escape(grade.reason)}.</p></body></html>\n"
    )


def write_feedback(course_dir, grades):
    """HTML feedback per student and notebook: nbgrader's for graded ones, a short page otherwise."""
    for assignment in sorted({g.notebook for g in grades if g.status == "graded"}):
        result = run_nbgrader(["generate_feedback", assignment, "--force"], course_dir, timeout_seconds=600)
        if result.returncode != 0:
            print(f"warning: nbgrader could not write feedback for {assignment}: {tail(result.stdout, 1)}")
    for grade in grades:
        if grade.status != "graded":
            _write_failure_feedback(course_dir, grade)


def write_grades_csv(course_dir, grades):
    """Write ``grades.csv`` atomically (a temporary file renamed over the old one)."""
    path = Path(course_dir) / "grades.csv"
    temporary = path.with_suffix(".csv.tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for grade in sorted(grades, key=lambda g: (g.student_id, g.notebook)):
            writer.writerow(asdict(grade))
    os.replace(temporary, path)
    return path


def print_table(grades):
    """Print the grade table: one line per student and notebook."""
    header = f"{'student_id':<20} {'notebook':<26} {'score':>7} {'max':>5}  {'status':<8} reason"
    print(header)
    print("-" * len(header))
    for grade in sorted(grades, key=lambda g: (g.student_id, g.notebook)):
        print(f"{grade.student_id:<20} {grade.notebook:<26} {grade.score:>7g} {grade.max_score:>5g}  "
              f"{grade.status:<8} {grade.reason}")


def autograde(submissions_dir, course_dir, timeout_seconds=600.0, jobs=1, memory_limit_gib=8.0):
    """Grade every submission under ``submissions_dir``, ``jobs`` notebooks at a time.

    Returns the exit code: 0, or 2 when the grader was misused.
    """
    submissions_dir, course_dir = Path(submissions_dir), Path(course_dir)
    if not submissions_dir.is_dir():
        print(f"error: {submissions_dir} is not a folder of <student_id>/<notebook>.ipynb submissions")
        return 2
    if timeout_seconds <= 0 or jobs < 1 or memory_limit_gib <= 0:
        print("error: --timeout and --memory-limit must be positive and --jobs at least 1")
        return 2
    submissions, notes = find_submissions(submissions_dir, set(assignment_names()))
    for note in notes:
        print(f"note: {note}")
    if not submissions:
        print(f"error: no submissions found in {submissions_dir}")
        return 2
    prepare_course(course_dir, sorted({assignment for _, assignment, _ in submissions}))
    def grade_and_report(submission):
        student_id, assignment, path = submission
        grade = grade_submission(course_dir, student_id, assignment, path, timeout_seconds,
                                 memory_limit_bytes=int(memory_limit_gib * 2**30))
        print(f"graded {student_id}/{assignment}: {grade.score:g}/{grade.max_score:g} "
              f"({grade.status}, {grade.seconds:g} s)", flush=True)
        return grade

    # Each notebook runs in its own nbgrader process and kernel; the threads only wait for them.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        grades = list(pool.map(grade_and_report, submissions))
    write_feedback(course_dir, grades)
    csv_path = write_grades_csv(course_dir, grades)
    print()
    print_table(grades)
    print(f"\ngrades: {csv_path}\nfeedback: {course_dir / 'feedback'}")
    return 0
