"""The class report: ``COURSE/report.html``, written beside ``grades.csv`` at the end of every
``autograde`` run and every ``collect`` (:func:`grader.pipeline.collect.finish`), its headline numbers
printed in the terminal.

Built from the results (:class:`grader.pipeline.results.Grade`) and the autograded notebooks
(``COURSE/autograded/<id>/<notebook>/<notebook>.ipynb``, whose graded test cells keep their
error, ``ExceptionName: message``). Per notebook: the scores of the notebooks handed in (those
that could not be graded count with their 0) as a histogram, their mean and median; per test:
how many of the graded notebooks passed it (earned all its points); the common mistakes: each
failing test's message, grouped by its text with every number written ``#``, with how many
students made it and one of them as the example. Then the notebooks that could not be graded,
the refused hand-ins, the late ones, the scores set by hand (``COURSE/overrides.csv``, applied
before the report is built: its numbers are those of ``grades.csv``), the slowest notebooks and
those graded without the sandbox (said at the top too, when there are any).

The page is one self-contained file (the plots are PNGs in ``data:`` URLs, no script, no font or
style sheet fetched; its Content-Security-Policy forbids loading anything else), and every text
that came from a submission is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from pathlib import Path

from grader.course import SOLUTIONS_DIR
from grader.pipeline.feedback import plain_text
from grader.pipeline.results import Grade, graded_without_sandbox
from helpers import write_atomically

REPORT_FILE = "report.html"
SLOWEST = 5
BAR_COLOUR = "#3b6ea5"   # the histogram's bars (tests/test_browser.py looks for it in a screenshot)
UNGRADED = ("error", "timeout", "memory", "invalid")   # handed in, scored 0 with a reason
NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
ONLY_THE_CHECK = ("no error in the notebook: the test passed there but failed the independent check "
                  "(wrong answers on the inputs the grader drew)")
NO_MESSAGE = "no message (the test cell is not in the autograded notebook)"
STUB = "NotImplementedError"   # the error of an exercise's stub, as handed out
STUB_MESSAGE = "NotImplementedError (the exercise's stub as handed out: not attempted)"


@dataclass
class Mistake:
    """One common mistake: a test's failure message (its numbers as ``#``) and who made it."""

    notebook: str
    test: str
    pattern: str
    students: list = field(default_factory=list)
    example: str = ""   # the first student's message, as it was

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class NotebookSummary:
    """The scores of one notebook: every notebook handed in and not refused, graded or not."""

    notebook: str
    scores: list
    max_score: float
    graded: int
    ungraded: int
    late: int

    @property
    def mean(self) -> float:
        return statistics.mean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0


@dataclass
class ClassReport:
    """Everything the page and the headline show (see the module's docstring)."""

    notebooks: list        # NotebookSummary, by notebook
    tests: list            # (notebook, test, points, passed, graded)
    mistakes: list         # Mistake, by notebook and test, the most common first
    ungraded: list         # Grade
    refused: list          # Grade
    late: list             # Grade
    overrides: list        # (student, notebook, what changed and why)
    slowest: list          # Grade
    students: int = 0
    unsandboxed: list = field(default_factory=list)   # Grade: graded WITHOUT the sandbox (grades.csv's sandboxed: no)


def points_per_test(notebook: str, solutions_dir: str | Path = SOLUTIONS_DIR) -> dict[str, float]:
    """``{test: points}`` of the graded test cells of ``notebook``'s source (empty when unknown)."""
    try:
        cells = json.loads((Path(solutions_dir) / f"{notebook}.ipynb").read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    tests = {}
    for cell in cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("grade") and nbgrader.get("grade_id"):
            tests[nbgrader["grade_id"]] = float(nbgrader.get("points", 0))
    return tests


def _error_text(output):
    """``ExceptionName: message`` of an error output (as the feedback shows it: :func:`plain_text`)."""
    name, value = str(output.get("ename", "")), str(output.get("evalue", ""))
    return plain_text(f"{name}: {value}" if value else name).strip()


def failure_messages(course_dir: str | Path, grade: Grade) -> dict[str, str]:
    """``{test: message}``: the first error of each graded test cell of ``grade``'s autograded
    notebook (empty when there is none: a notebook that could not be graded)."""
    path = Path(course_dir) / "autograded" / grade.student_id / grade.notebook / f"{grade.notebook}.ipynb"
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    messages = {}
    for cell in cells:
        test = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        errors = [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]
        if test and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            messages[test] = _error_text(errors[0]) if errors else ""
    return messages


def mistake_pattern(message: str) -> str:
    """``message`` with every number written ``#``, runs of blanks as one space and none inside
    brackets: the messages of one mistake differ only in the image, the label or the values they
    quote (numpy pads the numbers of an array: ``[ 4.13  14.673]``)."""
    text = " ".join(NUMBER.sub("#", message).split())
    return re.sub(r"\s+([\])])", r"\1", re.sub(r"([\[(])\s+", r"\1", text))


def common_mistakes(course_dir: str | Path, grades: list[Grade],
                    points: dict[str, dict[str, float]]) -> list[Mistake]:
    """The failure messages of the graded notebooks' failing tests, grouped per notebook, test and
    :func:`mistake_pattern`; ``points`` is ``{notebook: {test: points}}``. By notebook and test,
    the most common first."""
    groups = {}
    for grade in sorted(grades, key=lambda g: (g.student_id, g.notebook)):
        if grade.status != "graded":
            continue
        failing = [test for test, earned in sorted(grade.tests.items())
                   if earned < points.get(grade.notebook, {}).get(test, 0)]
        messages = failure_messages(course_dir, grade) if failing else {}
        for test in failing:
            message = messages.get(test)
            message = NO_MESSAGE if message is None else (message or ONLY_THE_CHECK)
            message = STUB_MESSAGE if message == STUB else message
            key = (grade.notebook, test, mistake_pattern(message))
            mistake = groups.setdefault(key, Mistake(*key, example=message))
            mistake.students.append(grade.student_id)
    return sorted(groups.values(), key=lambda m: (m.notebook, m.test, -m.count, m.pattern))


def pass_counts(grades: list[Grade], points: dict[str, dict[str, float]]) -> list[tuple]:
    """``[(notebook, test, points, passed, graded)]``: of the graded notebooks, how many earned all
    of each test's points."""
    rows = []
    for notebook in sorted(points):
        graded = [g for g in grades if g.notebook == notebook and g.status == "graded"]
        for test, most in sorted(points[notebook].items()):
            having = [g for g in graded if test in g.tests]
            rows.append((notebook, test, most, sum(g.tests[test] >= most for g in having), len(having)))
    return rows


def notebook_summaries(grades: list[Grade]) -> list[NotebookSummary]:
    """A :class:`NotebookSummary` per notebook handed in (refused hand-ins left out)."""
    summaries = []
    for notebook in sorted({g.notebook for g in grades if g.status != "refused"}):
        rows = [g for g in grades if g.notebook == notebook and g.status != "refused"]
        summaries.append(NotebookSummary(
            notebook, [g.score for g in rows], max((g.max_score for g in rows), default=0.0),
            sum(g.status == "graded" for g in rows), sum(g.status in UNGRADED for g in rows),
            sum(g.late is True for g in rows)))
    return summaries


def override_rows(grades: list[Grade]) -> list[tuple[str, str, str]]:
    """``[(student, notebook, what changed and why)]``: the results an instructor's overrides changed
    (their ``override`` text, :mod:`grader.pipeline.overrides`; a result without one has none)."""
    return [(g.student_id, g.notebook, str(getattr(g, "override", "") or ""))
            for g in sorted(grades, key=lambda g: (g.student_id, g.notebook)) if getattr(g, "override", "")]


def build_report(course_dir: str | Path, grades: list[Grade],
                 solutions_dir: str | Path = SOLUTIONS_DIR) -> ClassReport:
    """The :class:`ClassReport` of ``grades`` (their autograded notebooks in ``course_dir``)."""
    notebooks = sorted({g.notebook for g in grades if g.status != "refused"})
    points = {notebook: points_per_test(notebook, solutions_dir) for notebook in notebooks}
    by_id = attrgetter("student_id", "notebook")
    return ClassReport(
        notebooks=notebook_summaries(grades), tests=pass_counts(grades, points),
        mistakes=common_mistakes(course_dir, grades, points),
        ungraded=sorted((g for g in grades if g.status in UNGRADED), key=by_id),
        refused=sorted((g for g in grades if g.status == "refused"), key=by_id),
        late=sorted((g for g in grades if g.late is True), key=by_id),
        overrides=override_rows(grades),
        slowest=sorted((g for g in grades if g.status != "refused"), key=lambda g: (-g.seconds, by_id(g)))[:SLOWEST],
        students=len({g.student_id for g in grades}),
        unsandboxed=sorted(graded_without_sandbox(grades)[0], key=by_id))


def _bins(max_score):
    """Histogram bin edges: one bin per point (centred on it) up to 20 points, else ten bins."""
    if max_score <= 20 and float(max_score).is_integer():
        return [edge - 0.5 for edge in range(int(max_score) + 2)]
    return [max_score * step / 10 for step in range(11)]


def histogram_png(summary: NotebookSummary) -> bytes:
    """A PNG of ``summary``'s score distribution (matplotlib, no display needed), as bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 2.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist(summary.scores, bins=_bins(summary.max_score), color=BAR_COLOUR, edgecolor="white")
    axes.axvline(summary.mean, color="#c0392b", linestyle="--")
    axes.set_xlabel(f"score (of {summary.max_score:g})")
    axes.set_ylabel("notebooks")
    axes.set_title(f"{summary.notebook}: {len(summary.scores)} notebooks, mean {_number(summary.mean)} (dashed), "
                   f"median {_number(summary.median)}", fontsize=9)
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _number(value):
    """A score as the report writes it: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _table(table_id, header, rows, empty="none"):
    """An HTML table (every cell escaped); ``empty`` is said instead when there are no rows."""
    if not rows:
        return f'<p id="{table_id}" class="empty">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _notebooks_html(report):
    """The notebooks' table and one histogram per notebook."""
    rows = [(s.notebook, len(s.scores), s.graded, s.ungraded, s.late, _number(s.mean), _number(s.median),
             _number(s.max_score)) for s in report.notebooks]
    table = _table("notebooks", ["notebook", "handed in", "graded", "could not be graded", "late", "mean",
                                 "median", "of"], rows, "no notebook was handed in")
    figures = []
    for summary in report.notebooks:
        counts = ", ".join(f"{_number(score)}: {summary.scores.count(score)}" for score in sorted(set(summary.scores)))
        image = base64.b64encode(histogram_png(summary)).decode()
        figures.append(f'<figure><img class="histogram" src="data:image/png;base64,{image}" '
                       f'alt="{html.escape(f"scores of {summary.notebook}: {counts}")}"></figure>')
    return table + "".join(figures)


def _mistakes_html(report):
    """The common mistakes: count, message, an example student, every student who made it."""
    if not report.mistakes:
        return '<p id="mistakes" class="empty">no graded notebook failed a test</p>'
    rows = "".join(
        f"<tr><td>{html.escape(m.notebook)}</td><td>{html.escape(m.test)}</td><td>{m.count}</td>"
        f'<td class="message">{html.escape(m.example)}</td><td>{html.escape(m.students[0])}</td>'
        f'<td class="students">{html.escape(", ".join(m.students))}</td></tr>'
        for m in report.mistakes)
    head = "".join(f"<th>{name}</th>" for name in
                   ("notebook", "test", "students", "message (the example's)", "example", "all who made it"))
    return f'<table id="mistakes"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top}td.message{white-space:pre-wrap;overflow-wrap:anywhere;max-width:45em}
td.students{max-width:20em;font-size:.9em}
figure{display:inline-block;margin:0 1em 1em 0}p.empty{color:#666}
p.warning{border:2px solid #c0392b;padding:.5em;font-weight:bold}"""


def render_html(report: ClassReport, title: str = "Class report") -> str:
    """The report as one self-contained HTML page."""
    sections = [
        ("Notebooks", _notebooks_html(report)),
        ("Tests: passed by the graded notebooks", _table("tests", ["notebook", "test", "points", "passed", "graded",
                                                                    "pass rate"],
            [(n, t, _number(p), passed, graded, f"{100 * passed / graded:.0f} %" if graded else "-")
             for n, t, p, passed, graded in report.tests], "no graded test")),
        ("Common mistakes", _mistakes_html(report)),
        ("Could not be graded", _table("ungraded", ["student", "notebook", "status", "reason"],
                                       [(g.student_id, g.notebook, g.status, g.reason) for g in report.ungraded])),
        ("Refused", _table("refused", ["student", "notebook", "reason"],
                           [(g.student_id, g.notebook, g.reason) for g in report.refused])),
        ("Late", _table("late", ["student", "notebook", "score"],
                        [(g.student_id, g.notebook, _number(g.score)) for g in report.late])),
        ("Overrides", _table("overrides", ["student", "notebook", "what changed and why"], report.overrides)),
        ("Slowest notebooks", _table("slowest", ["student", "notebook", "seconds", "status"],
                                     [(g.student_id, g.notebook, f"{g.seconds:g}", g.status) for g in report.slowest])),
        ("Graded without the sandbox", _table("unsandboxed", ["student", "notebook", "score", "status"],
                                              [(g.student_id, g.notebook, _number(g.score), g.status)
                                               for g in report.unsandboxed])),
    ]
    summary = _table("summary", ["students", "notebooks handed in", "graded", "could not be graded", "refused",
                                 "late", "overrides"],
                     [(report.students, sum(len(s.scores) for s in report.notebooks),
                       sum(s.graded for s in report.notebooks), len(report.ungraded), len(report.refused),
                       len(report.late), len(report.overrides))])
    body = "".join(f"<h2>{html.escape(name)}</h2>{content}" for name, content in sections)
    if report.unsandboxed:   # said first: these grades rest on the submissions' good behaviour
        handed_in = sum(len(s.scores) for s in report.notebooks)
        summary = (f'<p id="unsandboxed-warning" class="warning">{len(report.unsandboxed)} of {handed_in} notebooks '
                   "were graded WITHOUT the sandbox (listed below): their kernels could read the reference answers "
                   "and write wherever the grader&#x27;s user can. <code>python -m grader doctor</code> says why.</p>"
                   + summary)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>written {datetime.now():%Y-%m-%d %H:%M}</p>{summary}{body}</body></html>")


def most_common(mistakes: list[Mistake]) -> Mistake:
    """The mistake most students made (the first of ``mistakes`` among equals)."""
    return max(mistakes, key=lambda mistake: mistake.count)


def headline(report: ClassReport) -> list[str]:
    """The report's headline numbers, a line per notebook and one for the most common mistake."""
    lines = [f"{s.notebook}: {len(s.scores)} handed in, {s.graded} graded, mean {_number(s.mean)}, median "
             f"{_number(s.median)} of {_number(s.max_score)}; {s.ungraded} could not be graded, {s.late} late"
             for s in report.notebooks]
    lines.append(f"refused: {len(report.refused)}; overrides: {len(report.overrides)}")
    if report.mistakes:
        top = most_common(report.mistakes)
        graded = next(s.graded for s in report.notebooks if s.notebook == top.notebook)
        message = top.example if len(top.example) <= 100 else top.example[:97] + "..."
        lines.append(f"most common mistake: {top.notebook} {top.test}, {top.count} of {graded} graded "
                     f"(e.g. {top.students[0]}): {message}")
    return lines


def write_report(course_dir: str | Path, grades: list[Grade],
                 solutions_dir: str | Path = SOLUTIONS_DIR) -> tuple[Path, ClassReport]:
    """Write ``COURSE/report.html`` atomically; return ``(path, report)``."""
    report = build_report(course_dir, grades, solutions_dir)
    page = render_html(report, f"Class report: {Path(course_dir).resolve().name}")
    path = Path(course_dir) / REPORT_FILE
    write_atomically(path, lambda temporary: Path(temporary).write_text(page, encoding="utf-8"))
    return path, report
