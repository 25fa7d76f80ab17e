"""``python -m grader autograde SUBMISSIONS --course-dir DIR``: grade a class with nbgrader.

SUBMISSIONS is a folder (or a .zip of one) of ``<student_id>/<notebook>.ipynb``, nbgrader's
``submitted/<student_id>/<assignment>/`` layout (see :mod:`grader.intake.submissions`), or Canvas' or
Moodle's submissions download as it comes (:mod:`grader.intake.lms`). Each notebook
is autograded by nbgrader in a private copy of the course, with a kernel of its own (test cells
that were edited or deleted are restored from the source), under a wall-clock limit and a
memory cap, and scored from the gradebook; nbgrader itself runs in one long-lived process per
job (:mod:`grader.pipeline.worker`). A submission that is not a notebook, crashes, hangs or runs out of
memory scores 0 with its reason; the others are graded as usual.

Every result is saved in ``DIR/results/`` the moment it is known, keyed by the submission's
and the source's content, with the seconds of each phase. A rerun reuses those results and
grades only what is new or changed, so a run killed half-way finishes on the next call with
nothing lost or counted twice; ``--fresh`` regrades everything. ``--shard K/N`` grades only
that share of the students and leaves ``grades.csv`` and the gradebook to ``collect``.
``--student ID`` regrades only those students; the course folder's other students are kept (also
when the download does not hold them: :mod:`grader.pipeline.class_list`), unless ``--drop-missing``. The
instructor's ``COURSE/overrides.csv`` is applied on top of the results (:mod:`grader.pipeline.overrides`).

This module runs the pipeline (README, "Grading"); each other job has its own module:
:mod:`grader.pipeline.results` (the results journal, ``grades.csv``, the table), :mod:`grader.pipeline.collect`
(the class list and the class reports), :mod:`grader.pipeline.gradebook` (nbgrader's gradebook),
:mod:`grader.pipeline.feedback` (the students' HTML pages) and :mod:`grader.pipeline.progress`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from grader import checks
from grader.config import GradingConfig
from grader.course import (
    SOLUTIONS_DIR,
    assignment_names,
    nbgrader_environment,
    stage_course,
    tail,
    write_config,
)
from grader.errors import DONE, GraderError, InputError, UsageError
from grader.intake import notebook_file
from grader.intake.lms import detect_layout
from grader.intake.submissions import Submission, SubmissionSource, find_submissions
from grader.messages import exit_code_of, say
from grader.pipeline import class_list, gradebook, isolation
from grader.pipeline.collect import finish, write_class_list
from grader.pipeline.feedback import (
    add_note,
    bound_page,
    prepare_for_feedback,
    write_failure_page,
    write_points_page,
)
from grader.pipeline.overrides import OverridesError, read_overrides
from grader.pipeline.progress import Progress
from grader.pipeline.results import (
    INFRASTRUCTURE_FAILURES,
    Grade,
    load_result,
    needs_clean_retry,
    result_key,
    sandbox_lines,
    save_result,
    sha256,
)
from grader.pipeline.worker import Worker
from grader.sandbox import namespaces as sandbox

log = logging.getLogger(__name__)


def _read_notebook(path):
    """Return ``(notebook, None)`` or ``(None, reason)`` when the file is not a readable notebook
    (:func:`grader.intake.notebook_file.read_notebook`: size, UTF-8, JSON, nesting, types, nbformat's schema)."""
    try:
        return notebook_file.read_notebook(path), None
    except Exception as error:  # NotANotebook, schema errors: never more than this submission's reason
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


def _notebook_transformations(assignment, work_dir):
    """nbgrader's settings for the grader's preprocessors (grader/pipeline/preprocessors.py) for one
    notebook: drop the cells after the last graded test, and append the independent check's capture
    cell (if the notebook has a check), its fixture written in ``work_dir``.

    Returns ``(settings, capture)``: ``capture`` is ``(fixture, output path)`` or None; the fixture
    is kept in memory and judged from there.
    """
    settings = {"DropCellsAfterLastTest.enabled": True}
    if assignment not in checks.CHECKS:
        return settings, None
    token = secrets.token_hex(8)
    fixture_path, output_path = work_dir / f"fixture-{token}.npz", work_dir / isolation.CAPTURE_FILE
    fixture = checks.write_fixture(assignment, fixture_path)
    settings["AddCaptureCell.source"] = checks.capture_cell_source(checks.CHECKS[assignment], fixture_path, output_path)
    return settings, (fixture, output_path)


def _run_autograde(scratch_dir, grade, notebook, config, worker, max_scores, isolation_plan=None):
    """Let nbgrader (in ``worker``) grade ``notebook`` in the private course folder ``scratch_dir``.

    Fills in ``grade`` (points, status, reason, phases); ``max_scores`` maps each graded test
    to its points. ``isolation_plan`` is ``(reference
    table, folders to hide)`` to run the kernel in the sandbox (:mod:`grader.sandbox`), or None
    to run it as the grader's user, unconfined. Returns the autograded notebook's path, or None
    when nbgrader could not grade it.
    """
    started = time.monotonic()
    request, capture = _autograde_request(scratch_dir, grade, notebook, config, isolation_plan)
    grade.phases["prepare"] += time.monotonic() - started
    call = worker.call(request, config.timeout_seconds, config.memory_limit_bytes)
    if call.answer:
        grade.phases.update(call.answer["phases"])
    autograded = scratch_dir / "autograded" / grade.student_id / grade.notebook / f"{grade.notebook}.ipynb"
    if call.answer and call.answer["success"] and autograded.exists():
        started = time.monotonic()
        in_kernel = gradebook.test_scores(scratch_dir, grade.notebook, grade.student_id)
        independent = checks.judge(grade.notebook, *capture) if capture else {}
        grade.tests = {name: min(points, independent.get(name, 1.0) * max_scores[name])
                       for name, points in in_kernel.items()}
        grade.score = sum(grade.tests.values())
        _say_what_was_graded(grade, in_kernel, max_scores, call.answer.get("timed_out_cells", []),
                             config.cell_timeout_seconds)
        grade.phases["check"] = time.monotonic() - started
        return autograded
    _say_why_not_graded(grade, call, config)
    return None


def _autograde_request(scratch_dir, grade, notebook, config, isolation_plan):
    """The kernel of one notebook (sandboxed or not, with the config's limits), the notebook filed
    as nbgrader's submission, and the worker's request to autograde it. Returns ``(request,
    capture)``: ``capture`` see :func:`_notebook_transformations`."""
    student_id, assignment = grade.student_id, grade.notebook
    target_dir = scratch_dir / "submitted" / student_id / assignment
    target_dir.mkdir(parents=True)
    # nbgrader fails a test cell that wrote to stderr: keep TensorFlow's C++ log lines out of the
    # cells, and let the kernel behave as outside pytest (ipykernel skips fd capture under pytest).
    environment = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTEST_CURRENT_TEST": None}
    if isolation_plan is not None:
        kernel_name, sandbox_environment, exchange, kernel_config = isolation.prepare_kernel(
            scratch_dir.parent, *isolation_plan, scratch_dir / "autograded" / student_id / assignment,
            config.kernel_limits())
    else:
        kernel_name, sandbox_environment, exchange, kernel_config = isolation.plain_kernel(scratch_dir.parent,
                                                                                          config.kernel_limits())
    environment.update(sandbox_environment)
    transformations, capture = _notebook_transformations(assignment, exchange)
    nbformat.write(notebook, str(target_dir / f"{assignment}.ipynb"))
    # The rest of nbgrader's settings (one cell's limit, what happens past it) are the private
    # course's nbgrader_config.py (grader/nbgrader_config.py and course.write_config).
    kernel = {"Execute.kernel_name": kernel_name, **kernel_config}
    request = {"command": "autograde", "course_dir": str(scratch_dir), "assignment": assignment,
               "student": student_id, "environment": environment, "config": {**kernel, **transformations}}
    return request, capture


def _say_what_was_graded(grade, in_kernel, max_scores, stopped, cell_timeout_seconds):
    """The reason (and the student's note) of a graded notebook: the tests it failed, the cells
    ``stopped`` past their limit, and the tests that passed in the notebook (``in_kernel``) but not
    the independent check."""
    failed = sorted(name for name, points in grade.tests.items() if points < max_scores[name])
    grade.reason = ("failed: " + ", ".join(failed)) if failed else "all tests passed"
    if stopped:
        grade.reason += (f"; cell {', '.join(map(str, stopped))} ran past the {cell_timeout_seconds:g} s limit "
                         "for one cell and was interrupted")
    fooled = sorted(name for name in failed if in_kernel[name] >= max_scores[name])
    if fooled:
        grade.reason += f" (passed in the notebook but not the independent check: {', '.join(fooled)})"
        grade.note = (f"{', '.join(fooled)} passed in your notebook, but your function gave wrong answers on "
                      "new inputs the grader drew for this run (called after your notebook ran, judged outside "
                      "it), so these tests earn no points. A test's points are given for what holds on both.")


def _say_why_not_graded(grade, call, config):
    """The status and reason of a notebook nbgrader could not grade: the memory cap, the time
    limit, a dead kernel or nbgrader's own error (:func:`_failure_reason`)."""
    if call.failure == "memory":
        grade.status = "memory"
        grade.reason = f"used more than the {config.memory_limit_bytes / 2**30:g} GiB memory cap and was stopped"
        return
    output = (call.answer or {}).get("log", "") + "\n" + call.output
    timed_out = call.failure == "timeout"
    grade.status = "timeout" if timed_out or "Timeout" in output else "error"
    grade.reason = _failure_reason(output, timed_out, config.timeout_seconds)


def _write_feedback_page(scratch_dir, grade, autograded, worker, memory_limit_bytes=None):
    """nbgrader's feedback page of one graded notebook, written in its private course folder.

    The private gradebook first gets the final points (the independent check may have taken
    some away), and the autograded notebook is made safe to show (:func:`prepare_for_feedback`:
    no hidden test lines, no active HTML, tracebacks of graded tests cut to their last line).
    A page past its size bound keeps only the points (:func:`bound_page`). Returns the page.
    """
    gradebook.record(scratch_dir, grade)
    prepare_for_feedback(autograded, scratch_dir, grade.notebook)
    request = {"command": "feedback", "course_dir": str(scratch_dir), "assignment": grade.notebook,
               "student": grade.student_id, "environment": {}, "config": {}}
    call = worker.call(request, timeout_seconds=300, memory_limit_bytes=memory_limit_bytes)
    page = scratch_dir / "feedback" / grade.student_id / grade.notebook / f"{grade.notebook}.html"
    if not (call.answer and call.answer["success"] and page.is_file()):
        log.warning(f"nbgrader could not write the feedback of {grade.student_id}/{grade.notebook}: "
                    f"{tail((call.answer or {}).get('log', '') or call.output, 1)}")
        return None
    bound_page(page, grade, gradebook.max_scores(scratch_dir, grade.notebook))
    return page


def grade_submission(course_dir: str | Path, template_dir: Path, submission: Submission, config: GradingConfig,
                     worker: Worker, key: str = "", isolation_plan: tuple[Path, list[Path]] | None = None,
                     record: bool = True) -> Grade:
    """Autograde one :class:`~grader.intake.base.Submission` in a private copy of ``template_dir``
    (a prepared nbgrader course for its assignment), then file its notebook and feedback page
    in ``course_dir`` (and, when ``record``, its points in the course's gradebook).

    Returns a :class:`Grade` with the seconds of each phase; never raises for bad input.
    ``config`` holds the limits (:class:`grader.config.GradingConfig`); ``isolation_plan`` see
    :func:`_run_autograde`; ``worker`` is the job's :class:`grader.pipeline.worker.Worker`.
    """
    started = time.monotonic()
    max_scores = gradebook.max_scores(template_dir, submission.assignment)
    grade = Grade(submission.student_id, submission.assignment, max_score=sum(max_scores.values()), key=key,
                  tests={name: 0.0 for name in max_scores}, late=submission.late, sandboxed=isolation_plan is not None)
    notebook, problem = _read_notebook(submission.path)
    student_dirs = {step: Path(course_dir) / step / submission.student_id / submission.assignment
                    for step in ("submitted", "autograded", "feedback")}
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        scratch_dir = Path(scratch) / "course"
        shutil.copytree(template_dir, scratch_dir)
        write_config(scratch_dir, cell_timeout_seconds=config.cell_timeout_seconds)
        grade.phases["prepare"] = time.monotonic() - started
        if notebook is None:
            grade.status, grade.reason, autograded = "invalid", problem, None
        else:
            autograded = _run_autograde(scratch_dir, grade, notebook, config, worker, max_scores, isolation_plan)
        finishing = time.monotonic()
        page = (_write_feedback_page(scratch_dir, grade, autograded, worker, config.memory_limit_bytes)
                if autograded else None)
        with gradebook.LOCK:
            for folder in student_dirs.values():
                shutil.rmtree(folder, ignore_errors=True)
            if autograded is not None:  # the notebook only: files the kernel left there stay behind
                student_dirs["autograded"].mkdir(parents=True)
                shutil.copyfile(autograded, student_dirs["autograded"] / autograded.name)
            if page is not None:
                student_dirs["feedback"].mkdir(parents=True)
                shutil.copyfile(page, student_dirs["feedback"] / page.name)
                add_note(course_dir, grade)   # the independent check, a cell out of time, lateness
            elif grade.status != "graded":
                write_failure_page(course_dir, grade)
            else:   # graded, but nbgrader wrote no page: the points, not a second pass over the class
                write_points_page(student_dirs["feedback"] / f"{grade.notebook}.html", grade, max_scores,
                                  "The grader could not write the full feedback page of your notebook; "
                                  "these are your points.")
            if record:
                gradebook.record(course_dir, grade)
        grade.phases["feedback"] = time.monotonic() - finishing
    grade.seconds = round(time.monotonic() - started, 1)
    grade.phases = {name: round(seconds, 2) for name, seconds in grade.phases.items()}
    return grade


def shard_of(student_id: str, shards: int) -> int:
    """The shard (0 ... ``shards`` - 1) that grades ``student_id``: a stable hash, the same on every machine."""
    return int(hashlib.sha256(student_id.encode()).hexdigest()[:12], 16) % shards


def autograde(submissions_path: str | Path, course_dir: str | Path, config: GradingConfig | None = None,
              **options) -> int:
    """:func:`grade_class` as tests, benchmarks and scripts call it: ``options`` (the fields of
    :class:`grader.config.GradingConfig`: ``timeout_seconds=``, ``jobs=``, ``students=``, ...) build
    the config when none is given, and the answer is the one ``python -m grader autograde`` gives:
    its exit code, with a :class:`grader.errors.GraderError` printed as ``error: ...`` (on stdout).
    """
    say("grader.pipeline", "stdout")
    try:
        return grade_class(submissions_path, course_dir, config or GradingConfig(**options))
    except GraderError as error:
        return exit_code_of(error, sys.stdout)


def grade_class(submissions_path: str | Path, course_dir: str | Path, config: GradingConfig) -> int:
    """Grade every submission under ``submissions_path`` (a folder or a .zip), ``config.jobs`` at a time.

    ``config.isolate`` is ``"auto"`` (sandbox the kernels where this machine can, else warn), ``"on"``
    (refuse to grade without the sandbox) or ``"off"``. ``config.shard`` is ``(k, n)`` to grade only
    the students of shard k of n (:func:`shard_of`) and leave the class reports to
    :func:`grader.pipeline.collect.collect`. A cell that runs past ``cell_timeout_seconds`` is interrupted
    and the notebook goes on; ``timeout_seconds`` limits the whole notebook. A kernel writes at most
    ``disk_limit_gib`` and ``max_files`` files (sandboxed; unsandboxed, no file larger than the
    limit) and runs at most ``max_processes`` processes and threads. ``lms``, ``worksheet`` (Moodle's
    grading worksheet: late flags, teams) and ``groups`` (Canvas's group set export) say how to read
    ``submissions_path`` (:mod:`grader.intake.lms`). ``students`` (ids) grades only those students, even
    when a saved result could be reused, and keeps the rest of the class; the students of the course
    folder that ``submissions_path`` does not hold are kept too, unless ``drop_missing``
    (:mod:`grader.pipeline.class_list`). Returns :data:`grader.errors.DONE`; raises a
    :class:`grader.errors.GraderError` when the grader was misused or cannot grade (or
    ``COURSE/overrides.csv`` cannot be read).
    """
    course_dir = Path(course_dir)
    try:
        read_overrides(course_dir)   # an unreadable overrides file stops the run before it grades
    except OverridesError as error:
        raise InputError(str(error)) from None
    sandboxed = False
    if config.isolate != "off":
        sandboxed, why = sandbox.available()
        if not sandboxed and config.isolate == "on":
            raise UsageError(f"the kernels cannot be sandboxed here ({why}); grade elsewhere or pass --isolate off")
        if not sandboxed:
            log.warning(f"kernels run unsandboxed: {why}. A submission can read the reference and write "
                        "wherever the grader's user can (see README, threat model); grades.csv's sandboxed column "
                        "and the summary's last lines will say so.")
    try:
        with SubmissionSource(submissions_path) as root:
            hidden = [course_dir.resolve(), Path(submissions_path).resolve(), Path(root).resolve()]
            return _autograde_folder(root, course_dir, config, sandboxed, hidden)
    except (ValueError, OSError, RuntimeError) as error:
        raise InputError(str(error)) from None


def _autograde_folder(root, course_dir, config, sandboxed, hidden):
    lms = detect_layout(root) if config.lms in (None, "auto") else config.lms
    submissions, refusals, notes = find_submissions(root, set(assignment_names()), lms=lms,
                                                    worksheet=config.worksheet, groups=config.groups)
    for note in notes:
        log.info(note)
    if not submissions and not refusals:
        raise InputError(f"no submissions found in {root}")
    downloaded = {s.student_id for s in submissions} | {r.student_id for r in refusals}
    if config.students:   # raises UsageError naming a student the download does not hold
        submissions, refusals = class_list.select(submissions, refusals, config.students, root)
    present = {s.student_id for s in submissions} | {r.student_id for r in refusals}
    kept, dropped, more = class_list.keep_others(class_list.previous_class(course_dir), present, lms,
                                                 config.drop_missing, downloaded)
    for note in more:
        log.info(note)
    assignments = sorted({s.assignment for s in submissions})
    source_hashes = {a: sha256(SOLUTIONS_DIR / f"{a}.ipynb") + ("|sandboxed" if sandboxed else "")
                     for a in assignments}
    keys = {(s.student_id, s.assignment): result_key(s, source_hashes[s.assignment], config) for s in submissions}
    write_class_list(course_dir, submissions, refusals, keys, lms=lms, kept=kept, sandboxed=sandboxed)
    shard = config.shard
    if shard is not None:
        submissions = [s for s in submissions if shard_of(s.student_id, shard[1]) == shard[0]]
        assignments = sorted({s.assignment for s in submissions})
    plans = {a: (isolation.reference_table(a), list(hidden)) if sandboxed else None for a in assignments}
    # The jobs' workers start first: they generate the courses while their zygotes import TensorFlow.
    ready = [Worker(_worker_environment(config.jobs)) for _ in range(min(config.jobs, len(submissions)))]
    try:
        with tempfile.TemporaryDirectory(prefix="grader-templates-") as templates:
            template_dirs = _prepare_courses(course_dir if shard is None else None, Path(templates) / "course",
                                             assignments, ready)
            grades = _grade_all(submissions, course_dir, template_dirs, keys, config, plans, record=shard is None,
                                ready=ready)
    except BaseException:
        for worker in ready:
            worker.kill()
        raise
    if shard is not None:
        print(f"shard {shard[0]}/{shard[1]}: {len(grades)} notebook(s) graded or reused; "
              f"run `python -m grader collect --course-dir {course_dir}` once every shard is done")
        return DONE
    late = {(s.student_id, s.assignment): s.late for s in submissions}
    for grade in grades:   # a reused result takes this download's late flag
        grade.late = late[(grade.student_id, grade.notebook)]
    others, missing = class_list.kept_grades(course_dir, kept)
    _forget(course_dir, dropped)
    everyone = grades + others + [Grade(r.student_id, r.assignment, status="refused", reason=r.reason, late=r.late)
                                  for r in refusals]
    finish(course_dir, everyone)
    _say_what_was_done(grades, kept, missing, dropped, config.students)
    for line in sandbox_lines(everyone):   # the last lines: what lasts in grades.csv and class.json too
        print(line)
    return DONE


def _prepare_courses(course_dir, template, assignments, workers):
    """The course's gradebook in ``course_dir`` (all ``assignments``; None: shards leave it to collect)
    and the ``template`` course holding every assignment, which each submission is graded in a
    private copy of: ``{assignment: template}``.

    nbgrader's ``generate_assignment`` makes both, in the jobs' ``workers``, where nbgrader is
    imported already (a process of its own per course and assignment cost about 3.5 s of CPU each):
    the course's on the first worker and the template's on the last, each course's assignments one
    after the other, as they share its gradebook. A failure is raised (RuntimeError) as it comes."""
    if course_dir is not None:
        stage_course(course_dir, assignments)
    if not assignments:   # nothing to grade (only refusals): no worker either
        return {}
    plans = [[] for _ in workers]
    if course_dir is not None:
        plans[0] += [(Path(course_dir), assignment) for assignment in assignments]
    stage_course(template, assignments)
    plans[-1] += [(Path(template), assignment) for assignment in assignments]
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        for future in [pool.submit(_generate, worker, plan) for worker, plan in zip(workers, plans)]:
            future.result()
    return {assignment: Path(template) for assignment in assignments}


def _generate(worker, plan):
    """``nbgrader generate_assignment`` in ``worker`` for each ``(course folder, assignment)`` of ``plan``."""
    for course, assignment in plan:
        call = worker.call({"command": "generate", "course_dir": str(course), "assignment": assignment,
                            "student": "", "environment": {}, "config": {}}, timeout_seconds=300)
        if not (call.answer and call.answer["success"]):
            raise RuntimeError(f"nbgrader could not generate {assignment}:\n"
                               f"{tail((call.answer or {}).get('log', '') or call.output, 15)}")


def _forget(course_dir, dropped):
    """Remove the ``dropped`` students (``--drop-missing``) from the course's gradebook; their
    results stay in ``COURSE/results/``."""
    with gradebook.LOCK:
        for student_id in sorted(dropped):
            for notebook in assignment_names():
                gradebook.record(course_dir, Grade(student_id, notebook, status="dropped"))


def _say_what_was_done(grades, kept, missing, dropped, students):
    """The run's last lines: how many notebooks were graded and reused, which students were kept
    from earlier runs (or dropped), and what of theirs has no result."""
    graded = [g for g in grades if not g.reused]
    print(f"\n{len(graded)} notebook(s) graded, {len(grades) - len(graded)} reused from saved results "
          f"(unchanged submissions)" + (f" (--student {', '.join(students)})" if students else ""))
    others = class_list.students_of(kept)
    if others:
        why = "not chosen with --student" if students else "not in this download"
        print(f"kept {len(others)} student(s) of the course folder {why}, as they were: {', '.join(others)}"
              + ("" if students else " (--drop-missing removes them)"))
    if dropped:
        print(f"--drop-missing: dropped {len(dropped)} student(s) not in this download: {', '.join(sorted(dropped))} "
              "(their results stay in results/)")
    if missing:
        print(f"{len(missing)} kept submission(s) have no result yet: {', '.join(missing)} (grade their download)")


def _worker_environment(jobs):
    """nbgrader's environment, which the kernels inherit, with TensorFlow's and OpenMP's thread
    pools sized to the job's share of the CPU cores (unless set already): with --jobs 2 on 2 cores,
    two kernels of 2 threads each fight over the cores and a class grades 12 % slower."""
    environment = nbgrader_environment()
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        environment.setdefault(name, threads)
    return environment


def _grade_all(submissions, course_dir, template_dirs, keys, config, plans, record, ready=()):
    """Grade (or reuse the saved result of) every submission, ``jobs`` at a time, each job with
    its own nbgrader worker process. SIGTERM (``scancel``, a time limit, a deleted pod) stops the
    run cleanly: the workers and kernels are killed, the notebooks they were grading are not
    saved (the next run grades them), the temporary folders are removed, and the exit code is 143.
    ``--student`` regrades its students even when a saved result could be reused. ``ready``: workers
    started already (by the caller), used before any new one is started."""
    jobs, fresh = config.jobs, config.fresh or bool(config.students)
    workers, environment, started, stopping = queue.Queue(), _worker_environment(jobs), list(ready), threading.Event()

    def new_worker():
        started.append(Worker(environment))
        return started[-1]

    for worker in started:
        workers.put(worker)
    for _ in range(min(jobs, len(submissions)) - len(started)):
        workers.put(new_worker())
    report = Progress(len(submissions), config.progress)

    def grade_and_save(submission):
        if stopping.is_set():
            return None
        key = keys[(submission.student_id, submission.assignment)]
        previous = None if fresh else load_result(course_dir, submission.student_id, submission.assignment)
        if previous is not None and previous.key == key and not needs_clean_retry(previous):
            if previous.sandboxed is None:   # saved before it was recorded: the key holds whether it was
                previous.sandboxed = plans[submission.assignment] is not None
            if record:
                with gradebook.LOCK:
                    gradebook.sync(course_dir, previous)
            previous.reused = True
            report.update(previous)
            return previous
        worker = workers.get()
        try:
            grade = None
            while grade is None or needs_clean_retry(grade):   # at most twice: the second worker is clean
                if not worker.alive():   # killed with a runaway notebook: a new one takes its place
                    worker = new_worker()
                clean = worker.notebooks == 0
                grade = grade_submission(course_dir, template_dirs[submission.assignment], submission, config,
                                         worker, key=key, isolation_plan=plans[submission.assignment], record=record)
                grade.clean = clean
                if grade.status in INFRASTRUCTURE_FAILURES:   # with whatever its kernel could have poisoned
                    worker.kill()
        except Exception as error:   # the grader's own fault: this row says so, the class goes on, a rerun retries
            worker.kill()
            grade = Grade(submission.student_id, submission.assignment, status="error",
                          reason=f"the grader failed on this notebook ({error.__class__.__name__}: {error}); run again",
                          sandboxed=plans[submission.assignment] is not None)
            report.update(grade)
            return grade
        finally:
            workers.put(worker)
        if stopping.is_set():   # interrupted, not graded
            return None
        save_result(course_dir, grade)
        report.update(grade)
        return grade

    def terminate(signal_number, frame):
        stopping.set()
        for worker in started:
            worker.kill()
        raise SystemExit(128 + signal_number)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, terminate) if in_main_thread else None
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            grades = list(pool.map(grade_and_save, submissions))
            while not workers.empty():
                workers.get().close()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        report.close()
    return grades
