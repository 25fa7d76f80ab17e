"""Grade a synthetic class and show where the time goes, beside plain nbgrader.

N students each hand in every graded notebook (half of them the reference solutions, half a
correct answer written differently where tests/submissions has one, so both full-marks paths
run); the class is graded sandboxed with ``--jobs 2`` after the reference answers were recorded
and the 01 training cached (both happen once per course, not once per class). Then the same
class is graded by plain ``nbgrader autograde`` (nbgrader's defaults, one assignment after the
other, no sandbox, no independent check), in the same run. Prints the mean seconds of each phase
per notebook, the wall time per student for both (target: at most 25 s per student for the grader
with --jobs 2), the wall time per notebook (target: at most 6 s for a class handing in 01 and 03,
``--notebooks 01_mnist_cam 03_cats_dogs_gradcam``), notebooks per minute per core, and the floor:
a Python importing TensorFlow once per job (its zygote), a forked kernel's start per notebook.

Usage: python benchmarks/bench_class.py [--students 10] [--jobs 2] [--no-plain] [--notebooks NOTEBOOK ...]
"""

import argparse
import contextlib
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from submissions import build  # noqa: E402

from grader.course import SOLUTIONS_DIR, graded_assignments, nbgrader_environment  # noqa: E402
from grader.pipeline import isolation  # noqa: E402
from grader.pipeline.autograde import autograde  # noqa: E402
from grader.sandbox import namespaces as sandbox  # noqa: E402

ASSIGNMENTS = tuple(graded_assignments())
PHASES = ("prepare", "nbgrader", "kernel_start", "execute", "kernel_stop", "check", "feedback")
TARGET_SECONDS_PER_STUDENT = 25.0
TARGET_SECONDS_PER_NOTEBOOK = 6.0   # a class handing in 01 and 03 (--notebooks 01_mnist_cam 03_cats_dogs_gradcam)
PLAIN_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "bench"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
"""


def written_differently(assignment):
    """A correct answer other than the reference, from tests/submissions/cases_NN.py (its
    ``CORRECT_BODIES`` and ``with_answer``); the reference solution when there is none."""
    if assignment == "01_mnist_cam":
        return build.with_show_cam(build.SHOW_CAM_BODIES["correct_einsum"])
    try:
        cases = importlib.import_module(f"submissions.cases_{assignment[:2]}")
    except ImportError:
        return build.solution_notebook(assignment)
    return cases.with_answer(next(iter(cases.CORRECT_BODIES.values())))


def make_class(folder, students, assignments):
    for index in range(students):
        student = f"student{index:03d}"
        for assignment in assignments:
            notebook = build.solution_notebook(assignment) if index % 2 == 0 else written_differently(assignment)
            build.write(notebook, folder, student, f"{assignment}.ipynb")


def plain_nbgrader_seconds(submissions, folder, assignments):
    """Wall seconds of plain nbgrader grading the class: ``generate_assignment`` then ``autograde``
    of each of ``assignments``, nbgrader's defaults (not timed: writing the course folder)."""
    course = Path(folder)
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(PLAIN_CONFIG)
    for assignment in assignments:
        (course / "source" / assignment).mkdir(parents=True)
        shutil.copyfile(SOLUTIONS_DIR / f"{assignment}.ipynb", course / "source" / assignment / f"{assignment}.ipynb")
        for student in sorted(path.name for path in submissions.iterdir()):
            target = course / "submitted" / student / assignment
            target.mkdir(parents=True)
            shutil.copyfile(submissions / student / f"{assignment}.ipynb", target / f"{assignment}.ipynb")
    environment = {**os.environ, **nbgrader_environment()}
    started = time.monotonic()
    for assignment in assignments:
        for command in (["generate_assignment", assignment, "--force"], ["autograde", assignment, "--force"]):
            result = subprocess.run([sys.executable, "-m", "nbgrader", *command], cwd=course, env=environment,
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"plain nbgrader {' '.join(command)} failed:\n{result.stdout[-2000:]}")
    return time.monotonic() - started


def floor_seconds():
    """Seconds for a fresh interpreter to import TensorFlow the way every lesson's Setup cell does."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import helpers.quiet"], cwd=REPO_ROOT, check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader's run of the class")
    parser.add_argument("--notebooks", nargs="+", choices=ASSIGNMENTS, metavar="NOTEBOOK",
                        help="hand in only these graded notebooks (default: all of them)")
    arguments = parser.parse_args()
    # --notebooks: e.g. the class an older benchmark graded (01 and 03, before issue 24)
    assignments = tuple(a for a in ASSIGNMENTS if not arguments.notebooks or a in arguments.notebooks)
    sandboxed, why = sandbox.available()
    if not sandboxed:
        raise SystemExit(f"the benchmark grades sandboxed, and this machine cannot: {why}")
    print("before timing: recording the reference answers (and caching 01's training) if needed", flush=True)
    for assignment in assignments:
        isolation.reference_table(assignment)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as folder:
        submissions, course_dir = Path(folder) / "submissions", Path(folder) / "course"
        make_class(submissions, arguments.students, assignments)
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()) as output:
            exit_code = autograde(submissions, course_dir, jobs=arguments.jobs, isolate="on", progress=False)
        wall = time.monotonic() - started
        if exit_code != 0:
            raise SystemExit(f"autograde failed:\n{output.getvalue()[-3000:]}")
        results = [json.loads(path.read_text()) for path in sorted((course_dir / "results").glob("*.json"))]
        plain = None if arguments.no_plain else plain_nbgrader_seconds(submissions, Path(folder) / "plain", assignments)
    notebooks = len(results)
    print(f"\n{arguments.students} students x {len(assignments)} notebooks = {notebooks} notebooks, sandboxed, "
          f"--jobs {arguments.jobs}, {os.cpu_count()} CPU cores: {wall:.0f} s wall")
    print(f"scores: {sorted({(r['notebook'], r['score'], r['max_score']) for r in results})}")
    print("\nmean seconds per notebook, by phase (each job runs one notebook at a time)")
    width = max(len(a) for a in assignments) + 2
    print(f"{'phase':<14}" + "".join(f"{a:>{width}}" for a in assignments))
    for phase in (*PHASES, "total"):
        key = "seconds" if phase == "total" else None
        row = [mean(r[key] if key else r["phases"].get(phase, 0.0) for r in results if r["notebook"] == a)
               for a in assignments]
        print(f"{phase:<14}" + "".join(f"{seconds:>{width}.2f}" for seconds in row))
    per_student = wall / arguments.students
    verdict = "met" if per_student <= TARGET_SECONDS_PER_STUDENT else "NOT met"
    print(f"\nwall time per student ({len(assignments)} notebooks): grader --jobs {arguments.jobs} {per_student:.1f} s "
          f"(target <= {TARGET_SECONDS_PER_STUDENT:g} s: {verdict})")
    if plain is not None:
        print(f"                                  plain nbgrader autograde {plain / arguments.students:.1f} s "
              f"({plain:.0f} s for the class; ratio grader / plain {wall / plain:.2f})")
    per_notebook = wall / notebooks
    verdict = "met" if per_notebook <= TARGET_SECONDS_PER_NOTEBOOK else "NOT met"
    print(f"wall time per notebook: {per_notebook:.2f} s (target for a class handing in 01 and 03: "
          f"<= {TARGET_SECONDS_PER_NOTEBOOK:g} s: {verdict})")
    print(f"throughput: {60 * notebooks / wall / os.cpu_count():.1f} notebooks per minute per core")
    kernel_start = mean(r["phases"].get("kernel_start", 0.0) for r in results)
    interpreter = floor_seconds()
    print(f"floor: once per job, a fresh Python importing TensorFlow {interpreter:.2f} s (the job's zygote); "
          f"per notebook, a sandboxed kernel forked from it {kernel_start:.2f} s, then the notebook's own cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
