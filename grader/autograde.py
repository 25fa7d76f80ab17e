"""``python -m grader autograde SUBMISSIONS --course-dir DIR``: grade a class with nbgrader.

SUBMISSIONS is a folder (or a .zip of one) of ``<student_id>/<notebook>.ipynb``, or nbgrader's
``submitted/<student_id>/<assignment>/`` layout (see :mod:`grader.submissions`). Each notebook
is copied into the nbgrader course directory and autograded by nbgrader in its own process and
kernel (test cells that were edited or deleted are restored from the source), under a
wall-clock limit and a memory cap, and scored from the gradebook. A submission that is not a
notebook, crashes, hangs or runs out of memory scores 0 with its reason; the others are graded
as usual.

Every result is saved in ``DIR/results/`` the moment it is known (written atomically), keyed
by the submission's and the source's content. A rerun reuses those results and grades only
what is new or changed, so a run killed half-way finishes on the next call with nothing lost
or counted twice; ``--fresh`` regrades everything. ``DIR/grades.csv`` (one row per student and
notebook, a column per graded test) and the HTML feedback are rebuilt from the results.
"""

import csv
import hashlib
import html
import json
import os
import re
import secrets
import warnings
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from grader import checks, isolation, sandbox
from grader.course import (SOLUTIONS_DIR, assignment_names, gradebook_url, prepare_course, run_nbgrader, tail,
                           write_config)
from grader.submissions import SubmissionSource, find_submissions

_GRADEBOOK_LOCK = threading.Lock()
BASE_COLUMNS = ["student_id", "notebook", "score", "max_score", "status", "reason", "seconds"]


@dataclass
class Grade:
    """One row of ``grades.csv``; ``tests`` maps each graded test cell to the points it earned."""

    student_id: str
    notebook: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"   # graded | error | timeout | memory | invalid | refused
    reason: str = ""
    seconds: float = 0.0
    tests: dict = field(default_factory=dict)
    key: str = ""
    note: str = ""           # said to the student at the top of the feedback page
    reused: bool = field(default=False, compare=False)   # this run took the saved result (not saved itself)


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_notebook(path):
    """Return ``(notebook, None)`` or ``(None, reason)`` when the file is not a readable notebook."""
    try:
        notebook = nbformat.read(str(path), as_version=4)
        nbformat.validate(notebook)
        return notebook, None
    except Exception as error:  # JSON errors, schema errors, unreadable files
        message = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        return None, f"not a valid notebook ({message[:200]})"


def _gradebook():
    from nbgrader.api import Gradebook

    return Gradebook


def _test_scores(course_dir, assignment, student_id):
    """``{grade cell id: points}`` of the student's autograded notebook."""
    with _gradebook()(gradebook_url(course_dir)) as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student_id)
        return {g.name: float(g.score or 0) for g in submission.grades}


def _max_scores(course_dir, assignment):
    """``{grade cell id: max points}`` of an assignment's notebook."""
    with _gradebook()(gradebook_url(course_dir)) as gradebook:
        notebook = gradebook.find_notebook(assignment, assignment)
        return {cell.name: float(cell.max_score) for cell in notebook.grade_cells}


def _failure_reason(output, timed_out, timeout_seconds):
    if timed_out:
        return f"ran longer than the {timeout_seconds:g} s limit and was stopped"
    if "DeadKernelError" in (output or "") or "Kernel died" in (output or ""):
        return "the notebook's kernel died (crash or out of memory)"
    if "Timeout" in (output or ""):
        return f"a cell ran longer than the {timeout_seconds:g} s limit"
    errors = re.findall(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception)\b:?.*)$", output or "", flags=re.M)
    errors = [line.strip() for line in errors if "Please see" not in line]
    return f"nbgrader could not grade it: {errors[-1][:300]}" if errors else "nbgrader could not grade it"


def _with_capture_cell(notebook, assignment, work_dir):
    """Append the independent check's capture cell (if the notebook has a check).

    Returns ``(fixture, output path)``: the fixture is kept in memory and judged from there.
    """
    if assignment not in checks.CHECKS:
        return None
    token = secrets.token_hex(8)
    fixture_path, output_path = work_dir / f"fixture-{token}.npz", work_dir / f"capture-{token}.npz"
    fixture = checks.write_fixture(assignment, fixture_path)
    source = checks.capture_cell_source(checks.CHECKS[assignment], fixture_path, output_path)
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    return fixture, output_path


def redact_test_tracebacks(path):
    """Keep only ``ExceptionName: message`` of errors in graded test cells of the notebook at
    ``path``: a traceback's context lines would show hidden test code in the feedback."""
    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
    os.chmod(path, 0o644)  # nbgrader leaves autograded notebooks read-only
    nbformat.write(notebook, str(path))


def _record_in_gradebook(course_dir, grade):
    """Write one graded submission's per-test points into the course gradebook (replacing any old entry)."""
    from nbgrader.api import MissingEntry

    with _gradebook()(gradebook_url(course_dir)) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy session warnings
        try:
            gradebook.remove_submission(grade.notebook, grade.student_id)
        except MissingEntry:
            pass
        if grade.status != "graded":
            return
        gradebook.update_or_create_student(grade.student_id)
        gradebook.add_submission(grade.notebook, grade.student_id)
        for name, points in grade.tests.items():
            cell_grade = gradebook.find_grade(name, grade.notebook, grade.notebook, grade.student_id)
            cell_grade.auto_score, cell_grade.manual_score = points, None
        gradebook.db.commit()


def _sync_gradebook(course_dir, grade):
    """Make the gradebook hold exactly ``grade`` (used when a saved result is reused)."""
    from nbgrader.api import MissingEntry

    try:
        recorded = {name: float(_test_scores(course_dir, grade.notebook, grade.student_id)[name]) for name in grade.tests}
    except (MissingEntry, KeyError):
        recorded = None
    if grade.status != "graded" or recorded != grade.tests:
        _record_in_gradebook(course_dir, grade)


def _run_autograde(scratch_dir, grade, notebook, limits, isolation_plan=None):
    """Let nbgrader grade ``notebook`` in the private course folder ``scratch_dir``; fill in ``grade``.

    ``isolation_plan`` is ``(reference table, folders to hide)`` to run the kernel in the
    sandbox (:mod:`grader.sandbox`), or None to run it as the grader's user, unconfined.
    Returns the autograded notebook's path, or None when nbgrader could not grade it.
    """
    student_id, assignment = grade.student_id, grade.notebook
    target_dir = scratch_dir / "submitted" / student_id / assignment
    target_dir.mkdir(parents=True)
    # nbgrader fails a test cell that wrote to stderr: keep TensorFlow's C++ log lines out of the
    # cells, and let the kernel behave as outside pytest (ipykernel skips fd capture under pytest).
    arguments, exchange = [], scratch_dir.parent
    environment = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTEST_CURRENT_TEST": None}
    if isolation_plan is not None:
        arguments, sandbox_environment, exchange = isolation.prepare_kernel(
            scratch_dir.parent, *isolation_plan, scratch_dir / "autograded" / student_id / assignment)
        environment.update(sandbox_environment)
    capture = _with_capture_cell(notebook, assignment, exchange)
    nbformat.write(notebook, str(target_dir / f"{assignment}.ipynb"))
    timeout_seconds, memory_limit_bytes = limits
    result = run_nbgrader(
        ["autograde", assignment, "--student", student_id, "--force",
         f"--Execute.timeout={max(1, int(timeout_seconds))}", "--Execute.interrupt_on_timeout=False", *arguments],
        scratch_dir, timeout_seconds=timeout_seconds, memory_limit_bytes=memory_limit_bytes,
        extra_environment=environment,
    )
    autograded = scratch_dir / "autograded" / student_id / assignment / f"{assignment}.ipynb"
    if result.returncode == 0 and autograded.exists():
        max_scores = _max_scores(scratch_dir, assignment)
        in_kernel = _test_scores(scratch_dir, assignment, student_id)
        independent = checks.judge(assignment, *capture) if capture else {}
        grade.tests = {name: min(points, independent.get(name, 1.0) * max_scores[name])
                       for name, points in in_kernel.items()}
        grade.score = sum(grade.tests.values())
        failed = sorted(name for name, points in grade.tests.items() if points < max_scores[name])
        grade.reason = ("failed: " + ", ".join(failed)) if failed else "all tests passed"
        fooled = sorted(name for name in failed if in_kernel[name] >= max_scores[name])
        if fooled:
            grade.reason += f" (passed in the notebook but not the independent check: {', '.join(fooled)})"
            grade.note = (f"{', '.join(fooled)} passed in your notebook, but your function gave wrong answers on "
                          "new inputs the grader drew for this run (called after your notebook ran, judged outside it), "
                          "so these tests earn no points. A test's points are given for what holds on both.")
        return autograded
    if result.out_of_memory:
        grade.status = "memory"
        grade.reason = f"used more than the {memory_limit_bytes / 2**30:g} GiB memory cap and was stopped"
    else:
        grade.status = "timeout" if result.timed_out or "Timeout" in (result.stdout or "") else "error"
        grade.reason = _failure_reason(result.stdout, result.timed_out, timeout_seconds)
    return None


def grade_submission(course_dir, template_dir, submission, limits, key="", isolation_plan=None):
    """Autograde one :class:`~grader.submissions.Submission` in a private copy of ``template_dir``
    (a prepared nbgrader course for its assignment), then record it in ``course_dir``.

    Returns a :class:`Grade`; never raises for bad input. ``limits`` is ``(timeout_seconds,
    memory_limit_bytes)``; ``isolation_plan`` see :func:`_run_autograde`.
    """
    started = time.monotonic()
    max_scores = _max_scores(template_dir, submission.assignment)
    grade = Grade(submission.student_id, submission.assignment, max_score=sum(max_scores.values()), key=key,
                  tests={name: 0.0 for name in max_scores})
    notebook, problem = _read_notebook(submission.path)
    autograded_dir = Path(course_dir) / "autograded" / submission.student_id / submission.assignment
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        scratch_dir = Path(scratch) / "course"
        shutil.copytree(template_dir, scratch_dir)
        write_config(scratch_dir)
        if notebook is None:
            grade.status, grade.reason, autograded = "invalid", problem, None
        else:
            autograded = _run_autograde(scratch_dir, grade, notebook, limits, isolation_plan)
        with _GRADEBOOK_LOCK:
            for step in ("submitted", "autograded", "feedback"):
                shutil.rmtree(Path(course_dir) / step / submission.student_id / submission.assignment,
                              ignore_errors=True)
            if autograded is not None:  # the notebook only: files the kernel left there stay behind
                autograded_dir.mkdir(parents=True)
                shutil.copyfile(autograded, autograded_dir / autograded.name)
                redact_test_tracebacks(autograded_dir / autograded.name)
            _record_in_gradebook(course_dir, grade)
    grade.seconds = round(time.monotonic() - started, 1)
    return grade


# ---------------------------------------------------------------- results journal

def _result_path(course_dir, student_id, assignment):
    return Path(course_dir) / "results" / f"{student_id}__{assignment}.json"


def save_result(course_dir, grade):
    """Write one result atomically (temporary file, fsync, rename)."""
    path = _result_path(course_dir, grade.student_id, grade.notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    with open(temporary, "w") as handle:
        json.dump(asdict(grade), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_result(course_dir, student_id, assignment):
    """The saved :class:`Grade`, or None when there is none or it is unreadable."""
    try:
        return Grade(**json.loads(_result_path(course_dir, student_id, assignment).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _key(submission, source_hashes, limits):
    text = f"{_sha256(submission.path)}|{source_hashes[submission.assignment]}|{limits[0]}|{limits[1]}"
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- reports

def _write_failure_feedback(course_dir, grade):
    folder = Path(course_dir) / "feedback" / grade.student_id / grade.notebook
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{grade.notebook}.html").write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback</title></head><body>"
        f"<h1>{html.escape(grade.notebook)}: {grade.score:g} / {grade.max_score:g}</h1>"
        f"<p>Your notebook could not be graded: {html.escape(grade.reason)}.</p></body></html>\n"
    )


def _feedback_page(course_dir, grade):
    return Path(course_dir) / "feedback" / grade.student_id / grade.notebook / f"{grade.notebook}.html"


def write_feedback(course_dir, grades):
    """HTML feedback per student and notebook: nbgrader's for graded ones, a short page otherwise.

    An assignment whose every graded result was reused, with its pages in place, is left as it is.
    """
    regenerated = set()
    for assignment in sorted({g.notebook for g in grades if g.status == "graded"}):
        graded = [g for g in grades if g.notebook == assignment and g.status == "graded"]
        if all(g.reused and _feedback_page(course_dir, g).is_file() for g in graded):
            continue
        regenerated.add(assignment)
        result = run_nbgrader(["generate_feedback", assignment, "--force"], course_dir, timeout_seconds=900)
        if result.returncode != 0:
            print(f"warning: nbgrader could not write feedback for {assignment}: {tail(result.stdout, 1)}")
    for grade in grades:
        if grade.status not in ("graded", "refused"):
            _write_failure_feedback(course_dir, grade)
        elif grade.note and grade.notebook in regenerated:
            _add_note_to_feedback(course_dir, grade)


def _add_note_to_feedback(course_dir, grade):
    """Put ``grade.note`` in a box at the top of nbgrader's feedback page."""
    page = _feedback_page(course_dir, grade)
    if not page.is_file():
        return
    text = page.read_text()
    box = ("<div style='border:2px solid #c00;padding:0.5em 1em;margin:1em'><b>Independent check.</b> "
           f"{html.escape(grade.note)}</div>")
    match = re.search(r"<body[^>]*>", text)
    if match:
        page.write_text(text[:match.end()] + box + text[match.end():])


def write_grades_csv(course_dir, grades):
    """Write ``grades.csv`` atomically: the base columns, then one column per graded test."""
    test_columns = sorted({name for grade in grades for name in grade.tests})
    path = Path(course_dir) / "grades.csv"
    temporary = path.with_suffix(".csv.tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(BASE_COLUMNS + test_columns)
        for grade in sorted(grades, key=lambda g: (g.student_id, g.notebook)):
            row = asdict(grade)
            writer.writerow([row[c] for c in BASE_COLUMNS] + [f"{grade.tests[c]:g}" if c in grade.tests else ""
                                                              for c in test_columns])
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


# ---------------------------------------------------------------- the command

def autograde(submissions_path, course_dir, timeout_seconds=600.0, jobs=1, memory_limit_gib=8.0, fresh=False,
              isolate="auto"):
    """Grade every submission under ``submissions_path`` (a folder or a .zip), ``jobs`` at a time.

    ``isolate`` is ``"auto"`` (sandbox the kernels where this machine can, else warn), ``"on"``
    (refuse to grade without the sandbox) or ``"off"``. Returns the exit code: 0, or 2 when the
    grader was misused or cannot grade.
    """
    course_dir = Path(course_dir)
    if timeout_seconds <= 0 or jobs < 1 or memory_limit_gib <= 0:
        print("error: --timeout and --memory-limit must be positive and --jobs at least 1")
        return 2
    sandboxed = False
    if isolate != "off":
        sandboxed, why = sandbox.available()
        if not sandboxed and isolate == "on":
            print(f"error: the kernels cannot be sandboxed here ({why}); grade elsewhere or pass --isolate off")
            return 2
        if not sandboxed:
            print(f"warning: kernels run unsandboxed: {why}. A submission can read the reference and write "
                  "wherever the grader's user can (see README, threat model).")
    try:
        with SubmissionSource(submissions_path) as root:
            return _autograde_folder(root, course_dir, (timeout_seconds, int(memory_limit_gib * 2**30)), jobs, fresh,
                                     sandboxed, hidden=[course_dir.resolve(), Path(submissions_path).resolve(),
                                                        Path(root).resolve()])
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}")
        return 2


def _autograde_folder(root, course_dir, limits, jobs, fresh, sandboxed=False, hidden=()):
    submissions, refusals, notes = find_submissions(root, set(assignment_names()))
    for note in notes:
        print(f"note: {note}")
    if not submissions and not refusals:
        print(f"error: no submissions found in {root}")
        return 2
    assignments = sorted({s.assignment for s in submissions})
    prepare_course(course_dir, assignments)
    source_hashes = {a: _sha256(SOLUTIONS_DIR / f"{a}.ipynb") + ("|sandboxed" if sandboxed else "")
                     for a in assignments}
    plans = {a: (isolation.reference_table(a), list(hidden)) if sandboxed else None for a in assignments}
    with tempfile.TemporaryDirectory(prefix="grader-templates-") as templates:
        template_dirs = {a: prepare_course(Path(templates) / a, [a]) for a in assignments}
        grades = _grade_all(submissions, course_dir, template_dirs, source_hashes, limits, jobs, fresh, plans)
    grades += [Grade(r.student_id, r.assignment, status="refused", reason=r.reason) for r in refusals]
    write_feedback(course_dir, grades)
    csv_path = write_grades_csv(course_dir, grades)
    print()
    print_table(grades)
    print(f"\ngrades: {csv_path}\nfeedback: {course_dir / 'feedback'}")
    return 0


def _grade_all(submissions, course_dir, template_dirs, source_hashes, limits, jobs, fresh, plans):
    """Grade (or reuse the saved result of) every submission, ``jobs`` at a time."""

    def grade_and_save(submission):
        key = _key(submission, source_hashes, limits)
        previous = None if fresh else load_result(course_dir, submission.student_id, submission.assignment)
        if previous is not None and previous.key == key:
            with _GRADEBOOK_LOCK:
                _sync_gradebook(course_dir, previous)
            previous.reused = True
            return previous
        grade = grade_submission(course_dir, template_dirs[submission.assignment], submission, limits, key=key,
                                 isolation_plan=plans[submission.assignment])
        save_result(course_dir, grade)
        print(f"graded {grade.student_id}/{grade.notebook}: {grade.score:g}/{grade.max_score:g} "
              f"({grade.status}, {grade.seconds:g} s)", flush=True)
        return grade

    # Each notebook runs in its own nbgrader process and kernel; the threads only wait for them.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(grade_and_save, submissions))
