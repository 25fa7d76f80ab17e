"""Command line: ``python -m grader {release,autograde,collect,export,bundle,validate,doctor}``.

Where the grader's exceptions become messages and exit codes (:mod:`grader.errors`), and where what
the grader says (its ``logging`` records: ``note: ...``, ``warning: ...``) is printed, both in the
words of :mod:`grader.messages`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.course import DEFAULT_COURSE_DIR
from grader.errors import GraderError, UsageError
from grader.messages import exit_code_of, say


def _parser():
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="regenerate notebooks/ from solutions/")
    release.add_argument("--check", action="store_true", help="exit 1 when notebooks/ is stale; change nothing")

    autograde = commands.add_parser("autograde", help="grade SUBMISSIONS/<student_id>/<notebook>.ipynb, or a "
                                                      "Canvas or Moodle submissions download")
    autograde.add_argument("submissions", type=Path,
                           help="folder (or .zip) of <student_id>/<notebook>.ipynb, nbgrader's submitted/ layout, or "
                                "Canvas' or Moodle's submissions download as it comes")
    autograde.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR,
                           help="nbgrader working directory: gradebook, feedback, grades.csv "
                                f"(default {DEFAULT_COURSE_DIR})")
    autograde.add_argument("--timeout", type=float, default=600,
                           help="wall-clock seconds to grade one notebook (nbgrader and kernel start-up included); "
                                "past it the notebook scores 0 (default 600)")
    autograde.add_argument("--cell-timeout", type=float, metavar="S",
                           help="seconds one cell may run; past it the cell is interrupted, marked in the feedback, "
                                "and the notebook goes on with the next cell (default a third of --timeout)")

    autograde.add_argument("--memory-limit", type=float, default=8.0, metavar="GIB",
                           help="memory cap of one notebook's kernel in GiB; past it the notebook scores 0 (default 8)")
    autograde.add_argument("--disk-limit", type=float, default=1.0, metavar="GIB",
                           help="what one kernel may write, in GiB (a private tmpfs in the sandbox; without it, "
                                "the largest file); past it a write fails with 'No space left on device' (default 1)")
    autograde.add_argument("--max-processes", type=int, default=256, metavar="N",
                           help="processes and threads one kernel may run; past it a fork fails (default 256)")
    autograde.add_argument("--max-files", type=int, default=100_000, metavar="N",
                           help="files one sandboxed kernel may create (default 100000)")
    autograde.add_argument("--fresh", action="store_true", help="regrade everything, ignoring saved results")
    autograde.add_argument("--jobs", type=int, default=1, help="notebooks graded at the same time (default 1)")
    autograde.add_argument("--isolate", choices=("auto", "on", "off"), default="auto",
                           help="run each kernel in a sandbox that hides the grader and makes the disk read-only: "
                                "auto (where the machine allows it, else warn), on (refuse without it), off")

    autograde.add_argument("--shard", type=_shard, metavar="K/N",
                           help="grade only shard K of N (0 <= K < N; students split by a stable hash of their id) "
                                "and write only their results; then run `collect` (README, 'Grading on a cluster')")
    autograde.add_argument("--lms", choices=("auto", "canvas", "moodle", "folders"), default="auto",
                           help="what SUBMISSIONS is: Canvas' 'Download Submissions' zip (student id: Canvas user id), "
                                "Moodle's 'Download all submissions' zip (student id: participant id), folders of "
                                "<student_id>/, or auto (detect; an error when it cannot tell)")
    autograde.add_argument("--worksheet", type=Path, metavar="CSV",
                           help="Moodle only: the assignment's grading worksheet (Download grading worksheet), "
                                "read for the late flags and, when students submit in groups, who is in each group")
    autograde.add_argument("--groups", type=Path, metavar="CSV",
                           help="Canvas only: the export of the assignment's group set (People > the group set > "
                                "Export): a group's file is graded once and its grade goes to every member")
    autograde.add_argument("--student", action="append", default=[], metavar="ID",
                           help="grade only this student of SUBMISSIONS (repeatable), even when a saved result could "
                                "be reused; the rest of the course folder's class is kept as it is")
    autograde.add_argument("--drop-missing", action="store_true",
                           help="remove from grades.csv and the gradebook the students of the course folder that "
                                "SUBMISSIONS does not hold (by default they are kept; their results stay in results/)")
    autograde.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto",
                           help="a progress bar (bar), a line per notebook (lines), or bar on a terminal (auto)")

    collect = commands.add_parser("collect", help="build grades.csv, the gradebook and feedback from the results")
    collect.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR,
                         help=f"the folder the autograde runs (or shards) wrote to (default {DEFAULT_COURSE_DIR})")

    export = commands.add_parser("export", help="write the grades as a file Canvas or Moodle imports, or a plain CSV")
    export.add_argument("out", type=Path, help="the .csv to write")
    export.add_argument("--format", choices=("canvas", "moodle", "csv"), required=True,
                        help="canvas: Canvas' gradebook import; moodle: Moodle's CSV grade import; "
                             "csv: student_id, name, one column per notebook, total")
    export.add_argument("--roster", type=Path, required=True,
                        help="the class list from the LMS: Canvas' gradebook export, Moodle's grade export "
                             "(First name, Last name, Email address) or grading worksheet, or student_id,name for csv")
    export.add_argument("--id-column", metavar="COLUMN",
                        help="the roster column that holds the grader's student ids "
                             "(default: SIS Login ID for canvas, Email address for moodle, student_id for csv)")
    export.add_argument("--course-dir", type=Path, default=DEFAULT_COURSE_DIR,
                        help=f"the folder whose grades.csv is exported (default {DEFAULT_COURSE_DIR})")
    export.add_argument("--assignment", metavar="COLUMN",
                        help="canvas: the roster's assignment column the grades go into ('Lab 1 (311)', its title "
                             "or its id); default: the columns titled like the notebooks, else the only assignment")
    export.add_argument("--unmask", type=Path, metavar="DOWNLOAD",
                        help="canvas, anonymous grading: the assignment's submissions downloaded again after its "
                             "grades were posted; its file names turn the anonymous ids into user ids")

    bundle = commands.add_parser("bundle", help="write the zip students receive (no solutions, no grader)")
    bundle.add_argument("out", type=Path, help="the .zip to write")

    validate = commands.add_parser("validate", help="run a notebook's visible tests, as a student would")
    validate.add_argument("notebook", type=Path)

    doctor = commands.add_parser("doctor", help="can the kernel sandbox be built here? which part fails, and the "
                                                "remedy (exit 0 when it works, 1 when not)")
    doctor.add_argument("--json", action="store_true", help="print the probe and the diagnosis as JSON")
    doctor.add_argument("--write-apparmor-profile", type=Path, metavar="FILE",
                        help="write the AppArmor profile (Ubuntu 23.10+) that grants user namespaces to this "
                             "course's Python, resolved, and print how to install it")
    return parser


def _shard(text):
    """``--shard K/N`` read as ``(k, n)``, its range checked by :func:`grader.config.check_shard`."""
    from grader.config import check_shard

    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 0/4, got {text!r}") from None
    try:
        check_shard((k, n))
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return k, n


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    say("grader.pipeline", "stdout")
    try:
        return _run(arguments)
    except GraderError as error:
        return exit_code_of(error)


def _run(arguments):
    if arguments.command == "release":
        from grader.student.release import release

        return release(check=arguments.check)
    if arguments.command == "autograde":
        from grader.config import GradingConfig
        from grader.pipeline.autograde import grade_class

        config = GradingConfig(timeout_seconds=arguments.timeout, cell_timeout_seconds=arguments.cell_timeout,
                               memory_limit_gib=arguments.memory_limit, disk_limit_gib=arguments.disk_limit,
                               max_processes=arguments.max_processes, max_files=arguments.max_files,
                               jobs=arguments.jobs, isolate=arguments.isolate, shard=arguments.shard,
                               progress={"auto": None, "bar": True, "lines": False}[arguments.progress],
                               lms=None if arguments.lms == "auto" else arguments.lms,
                               worksheet=arguments.worksheet, groups=arguments.groups,
                               students=tuple(arguments.student), drop_missing=arguments.drop_missing,
                               fresh=arguments.fresh)
        return grade_class(arguments.submissions, arguments.course_dir, config)
    if arguments.command == "collect":
        from grader.pipeline.collect import collect_results

        return collect_results(arguments.course_dir)
    if arguments.command == "export":
        from grader.export.grades import export

        return export(arguments.format, arguments.roster, arguments.out, arguments.course_dir,
                      id_column=arguments.id_column, assignment=arguments.assignment, unmask=arguments.unmask)
    if arguments.command == "bundle":
        from grader.student.bundle import bundle

        return bundle(arguments.out)
    if arguments.command == "doctor":
        from grader.sandbox.doctor import doctor

        return doctor(write_profile=arguments.write_apparmor_profile, as_json=arguments.json)
    from grader.student.validate import validate

    return validate(arguments.notebook)


if __name__ == "__main__":
    sys.exit(main())
