"""``make test``: the whole pytest suite as two pytest processes side by side.

The modules that grade whole classes (each keeps both cores busy with ``--jobs 2``, or runs a
Slurm cluster, or kills graders) run one after another in one process; every other
module and the solution notebooks run in the other, at the same time. Each process's output
goes to ``build/tests-<name>.log``; both logs are printed at the end. Exit status: the first
non-zero one of the two, else 0. Extra arguments are passed to both pytest processes.

Before any test, ``ruff check`` (pyproject.toml's rules: pyflakes, pycodestyle errors, import
order) reads the code; when it finds anything, its findings are printed and no test runs (exit 1).
The import rules (tests/test_import_rules.py) run with the other tests.
Usage: ``python -m tools.run_tests [pytest arguments ...]``
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The browser test grades too, but less (one student's notebooks): it runs in the other process.
# The LMS test (two downloads of four notebooks, --jobs 2) moved here when the other process became
# the longer again (fresh-clone CI at b4d0351: grading 1,412 s, others 1,648 s, its LMS test 99 s).
# The container test (an image build, then the sample class graded in the container and on the
# host) runs last in the grading process: it keeps both cores busy too. The doctor's test grades a
# class three times (130 s): it moved here when the other process became the longer (CI at efb2dbd:
# grading 1,441 s, others 1,747 s).
RUFF = [sys.executable, "-m", "ruff", "check", "grader", "tests", "tools", "benchmarks", "examples"]
# The batteries of 02, 04 and 05 (44 notebooks of 2-12 s, one class) grade here too.
GRADING_MODULES = ["tests/test_autograde.py", "tests/test_autograde_lessons.py", "tests/test_autograde_03.py",
                   "tests/test_autograde_resume.py", "tests/test_shards.py", "tests/test_slurm.py",
                   "tests/test_doctor.py", "tests/test_lms.py", "tests/test_container.py"]


def commands(extra: list[str]) -> list[tuple[str, list[str]]]:
    """The two pytest command lines: (name, arguments)."""
    grading = [sys.executable, "-m", "pytest", *GRADING_MODULES, *extra]
    others = [sys.executable, "-m", "pytest", *[f"--ignore={module}" for module in GRADING_MODULES], *extra]
    return [("grading", grading), ("others", others)]


def lint() -> int:
    """``ruff check`` of the code (:data:`RUFF`); its findings are printed. Its exit code (0: clean)."""
    result = subprocess.run(RUFF, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout + result.stderr, end="", flush=True)
        print(f"make test: ruff found the problems above ({' '.join(RUFF[2:])}); no test was run")
    return result.returncode


def main(extra: list[str]) -> int:
    if lint() != 0:
        return 1
    started = time.monotonic()
    log_dir = ROOT / "build"
    log_dir.mkdir(exist_ok=True)
    running = []
    for name, command in commands(extra):
        log = open(log_dir / f"tests-{name}.log", "w")
        running.append((name, subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))
    codes = []
    for name, process, log in running:
        codes.append(process.wait())
        log.close()
    for (name, _, _), code in zip(running, codes):
        print(f"===== {name} (exit {code}): build/tests-{name}.log =====")
        print((log_dir / f"tests-{name}.log").read_text(errors="replace"), flush=True)
    print(f"make test: {time.monotonic() - started:.0f} s; exit codes {dict(zip([n for n, _, _ in running], codes))}")
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
