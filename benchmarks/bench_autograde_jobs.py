"""Grade N copies of the reference solution of 01 with --jobs 1 and --jobs 2, side by side in
one run, and print the times and their ratio (target: jobs 2 at most 0.65× jobs 1).

Usage: python benchmarks/bench_autograde_jobs.py [--copies 20]
"""

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.course import SOLUTIONS_DIR  # noqa: E402
from grader.pipeline import isolation
from grader.pipeline.autograde import autograde  # noqa: E402
from grader.sandbox import namespaces as sandbox  # noqa: E402


def make_class(folder, copies):
    for index in range(copies):
        student = folder / f"student{index:02d}"
        student.mkdir(parents=True)
        shutil.copyfile(SOLUTIONS_DIR / "01_mnist_cam.ipynb", student / "01_mnist_cam.ipynb")


def timed_run(submissions, jobs):
    with tempfile.TemporaryDirectory(prefix=f"bench-jobs{jobs}-") as course_dir:
        started = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()) as output:
            exit_code = autograde(submissions, course_dir, jobs=jobs, fresh=True)
        seconds = time.monotonic() - started
        grades = (Path(course_dir) / "grades.csv").read_text()
    if exit_code != 0:
        raise SystemExit(f"autograde --jobs {jobs} failed:\n{output.getvalue()[-2000:]}")
    return seconds, grades


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=20)
    arguments = parser.parse_args()
    sandboxed, why = sandbox.available()
    print(f"kernels sandboxed: {sandboxed} {why}")
    if sandboxed:  # record the reference answers before timing, so neither run pays for it
        isolation.reference_table("01_mnist_cam")
    with tempfile.TemporaryDirectory(prefix="bench-class-") as folder:
        make_class(Path(folder), arguments.copies)
        serial, serial_grades = timed_run(folder, jobs=1)
        parallel, parallel_grades = timed_run(folder, jobs=2)
    same = [line.split(",")[:5] for line in serial_grades.splitlines()] == \
           [line.split(",")[:5] for line in parallel_grades.splitlines()]
    ratio = parallel / serial
    print(f"{arguments.copies} copies of 01_mnist_cam: --jobs 1 {serial:.1f} s, --jobs 2 {parallel:.1f} s")
    print(f"ratio jobs2/jobs1 = {ratio:.2f} (target <= 0.65): {'met' if ratio <= 0.65 else 'NOT met'}; "
          f"same grades: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
