"""Grade a synthetic class and show where the time goes.

N students each hand in 01 and 03 (half of them the reference solutions, half a correct answer
written differently, so both full-marks paths run); the class is graded sandboxed with
``--jobs 2`` after the reference answers were recorded and the 01 training cached (both happen
once per course, not once per class). Prints the mean seconds of each phase per notebook, the
wall time per notebook (target: at most 6 s, 01 and 03 averaged), notebooks per minute per core,
and the floor a notebook cannot go below: a Python interpreter importing TensorFlow plus a
kernel start.

Usage: python benchmarks/bench_class.py [--students 10] [--jobs 2]
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from submissions import build, cases_03  # noqa: E402

from grader.pipeline import isolation  # noqa: E402
from grader.pipeline.autograde import autograde  # noqa: E402
from grader.sandbox import namespaces as sandbox  # noqa: E402

ASSIGNMENTS = ("01_mnist_cam", "03_cats_dogs_gradcam")
PHASES = ("prepare", "nbgrader", "kernel_start", "execute", "kernel_stop", "check", "feedback")
TARGET_SECONDS = 6.0


def make_class(folder, students):
    for index in range(students):
        student = f"student{index:03d}"
        if index % 2 == 0:
            notebooks = [build.solution_notebook(a) for a in ASSIGNMENTS]
        else:
            notebooks = [build.with_show_cam(build.SHOW_CAM_BODIES["correct_einsum"]),
                         cases_03.with_get_cam(next(iter(cases_03.CORRECT_BODIES.values())))]
        for assignment, notebook in zip(ASSIGNMENTS, notebooks):
            build.write(notebook, folder, student, f"{assignment}.ipynb")


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
    arguments = parser.parse_args()
    sandboxed, why = sandbox.available()
    if not sandboxed:
        raise SystemExit(f"the benchmark grades sandboxed, and this machine cannot: {why}")
    print("before timing: recording the reference answers (and caching 01's training) if needed", flush=True)
    for assignment in ASSIGNMENTS:
        isolation.reference_table(assignment)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as folder:
        submissions, course_dir = Path(folder) / "submissions", Path(folder) / "course"
        make_class(submissions, arguments.students)
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()) as output:
            exit_code = autograde(submissions, course_dir, jobs=arguments.jobs, isolate="on", progress=False)
        wall = time.monotonic() - started
        if exit_code != 0:
            raise SystemExit(f"autograde failed:\n{output.getvalue()[-3000:]}")
        results = [json.loads(path.read_text()) for path in sorted((course_dir / "results").glob("*.json"))]
    notebooks = len(results)
    print(f"\n{arguments.students} students x {len(ASSIGNMENTS)} notebooks = {notebooks} notebooks, sandboxed, "
          f"--jobs {arguments.jobs}, {os.cpu_count()} CPU cores: {wall:.0f} s wall")
    print(f"scores: {sorted({(r['notebook'], r['score'], r['max_score']) for r in results})}")
    print("\nmean seconds per notebook, by phase (each job runs one notebook at a time)")
    print(f"{'phase':<14}" + "".join(f"{a:>22}" for a in ASSIGNMENTS))
    for phase in (*PHASES, "total"):
        key = "seconds" if phase == "total" else None
        row = [mean(r[key] if key else r["phases"].get(phase, 0.0) for r in results if r["notebook"] == a)
               for a in ASSIGNMENTS]
        print(f"{phase:<14}" + "".join(f"{seconds:>22.2f}" for seconds in row))
    per_notebook = wall / notebooks
    print(f"\nwall time per notebook: {per_notebook:.2f} s (target <= {TARGET_SECONDS:g} s: "
          f"{'met' if per_notebook <= TARGET_SECONDS else 'NOT met'})")
    print(f"throughput: {60 / per_notebook / os.cpu_count():.1f} notebooks per minute per core")
    kernel_start = mean(r["phases"].get("kernel_start", 0.0) for r in results)
    interpreter = floor_seconds()
    print(f"floor: a fresh Python importing TensorFlow {interpreter:.2f} s + a sandboxed kernel start "
          f"{kernel_start:.2f} s = {interpreter + kernel_start:.2f} s per notebook and job")
    return 0


if __name__ == "__main__":
    sys.exit(main())
