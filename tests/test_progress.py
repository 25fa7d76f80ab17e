"""What the grader prints while it works: a bar on a terminal, plain lines elsewhere."""

import io

from grader.pipeline.progress import Progress
from grader.pipeline.results import Grade


def grades():
    return [Grade("ann", "01_mnist_cam", score=5, max_score=5, seconds=9.5),
            Grade("bob", "01_mnist_cam", status="timeout", max_score=5, seconds=60.0),
            Grade("cy", "01_mnist_cam", score=3, max_score=5, reused=True)]


def test_plain_lines_name_each_graded_notebook_with_done_and_total(capsys):
    progress = Progress(3, bar=False)
    for grade in grades():
        progress.update(grade)
    progress.close()
    assert capsys.readouterr().out.splitlines() == [
        "[1/3] graded ann/01_mnist_cam: 5/5 (graded, 9.5 s)",
        "[2/3] graded bob/01_mnist_cam: 0/5 (timeout, 60 s)"]   # a reused result is not graded again


def test_the_bar_shows_done_total_failures_and_an_eta(monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr("sys.stdout", terminal)
    progress = Progress(3, bar=True)
    for grade in grades()[:2]:
        progress.update(grade)
    text = terminal.getvalue()
    progress.close()
    assert "2/3" in text and "failures=1" in text and "<" in text   # tqdm's [elapsed<remaining]
    assert progress.done == 2 and progress.failures == 1


def test_auto_is_plain_when_stdout_is_not_a_terminal(capsys):
    assert Progress(1).bar is None
