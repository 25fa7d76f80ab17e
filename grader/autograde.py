"""``python -m grader autograde SUBMISSIONS --course-dir DIR``: grade a class with nbgrader.

SUBMISSIONS is a folder (or a .zip of one) of ``<student_id>/<notebook>.ipynb``, or nbgrader's
``submitted/<student_id>/<assignment>/`` layout (see :mod:`grader.submissions`). Each notebook
is copied into the nbgrader course directory and autograded by nbgrader in its own process and
kernel (test cells that were edited or deleted are restored from the source), under a
wall-clock limit and a memory cap, and scored from the gradebook. A submission that is not a
notebook, crashes, hangs or runs out of memory scores 0 with its reason; the others are graded
as usual.

Every result is saved in ``DIR/results/`` the moment it is known, keyed by the submission's
and the source's content. A rerun reuses those results and grades only what is new or
changed, so a run killed half-way finishes on the next call with nothing lost or counted
twice; ``--fresh`` regrades everything. ``DIR/grades.csv`` (one row per student and notebook,
a column per graded test) and the HTML feedback are rebuilt from the results.

This module runs the pipeline (README, "Grading"); each other job has its own module:
:mod:`grader.results` (the results journal, ``grades.csv``, the table), :mod:`grader.gradebook`
(nbgrader's gradebook) and :mod:`grader.feedback` (the students' HTML pages).
"""

import re
import secrets
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from grader import checks, gradebook, isolation, sandbox
from grader.course import (SOLUTIONS_DIR, assignment_names, drop_cells_after_last_test, prepare_course,
                           run_nbgrader, write_config)
from grader.feedback import redact_test_tracebacks, write_feedback
from grader.results import Grade, load_result, print_table, result_key, save_result, sha256, write_grades_csv
from grader.submissions import SubmissionSource, find_submissions


def _read_notebook(path):
    """Return ``(notebook, None)`` or ``(None, reason)`` when the file is not a readable notebook."""
    try:
        notebook = nbformat.read(str(path), as_version=4)
        nbformat.validate(notebook)
        return notebook, None
    except Exception as error:  # JSON errors, schema errors, unreadable files
        message = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        return None, f"not a valid notebook ({message[:200]})"


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


def _without_cells_after_last_test(notebook):
    """Drop the cells after the last graded test (they cannot change the grade) and say so at the end."""
    removed = drop_cells_after_last_test(notebook.cells)
    if removed:
        notebook.cells.append(nbformat.v4.new_markdown_cell(
            f"*The grader stopped after the last graded test: the {removed} cell(s) after it were not run, "
            "since they cannot change the grade.*"))


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
    _without_cells_after_last_test(notebook)
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
        max_scores = gradebook.max_scores(scratch_dir, assignment)
        in_kernel = gradebook.test_scores(scratch_dir, assignment, student_id)
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
    max_scores = gradebook.max_scores(template_dir, submission.assignment)
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
        with gradebook.LOCK:
            for step in ("submitted", "autograded", "feedback"):
                shutil.rmtree(Path(course_dir) / step / submission.student_id / submission.assignment,
                              ignore_errors=True)
            if autograded is not None:  # the notebook only: files the kernel left there stay behind
                autograded_dir.mkdir(parents=True)
                shutil.copyfile(autograded, autograded_dir / autograded.name)
                redact_test_tracebacks(autograded_dir / autograded.name)
            gradebook.record(course_dir, grade)
    grade.seconds = round(time.monotonic() - started, 1)
    return grade


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
    source_hashes = {a: sha256(SOLUTIONS_DIR / f"{a}.ipynb") + ("|sandboxed" if sandboxed else "")
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
        key = result_key(submission, source_hashes[submission.assignment], limits)
        previous = None if fresh else load_result(course_dir, submission.student_id, submission.assignment)
        if previous is not None and previous.key == key:
            with gradebook.LOCK:
                gradebook.sync(course_dir, previous)
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
