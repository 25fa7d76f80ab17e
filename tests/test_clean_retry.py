"""A result that looks like the grading machine's failure (kernel died, worker lost, timeout,
memory) after another notebook ran in the same worker is retried once in a clean worker before it
is saved, and a rerun never keeps such a result as final (issue 20). The grading itself is
replaced by a stand-in: what is tested is the order of workers and what is saved."""

from types import SimpleNamespace

import pytest

from grader.config import GradingConfig
from grader.pipeline import autograde
from grader.pipeline.results import Grade, load_result, needs_clean_retry, save_result


class FakeWorker:
    """Stands in for grader.pipeline.worker.Worker: counts the notebooks it was given."""

    started = []

    def __init__(self, environment):
        self.notebooks, self.killed = 0, False
        FakeWorker.started.append(self)

    def alive(self):
        return not self.killed

    def kill(self):
        self.killed = True

    def close(self):
        pass


@pytest.fixture
def graded(monkeypatch):
    """``outcomes[student]``: the statuses its gradings return, in order; returns the calls made."""
    calls, outcomes = [], {}
    FakeWorker.started = []

    def grade_submission(course_dir, template_dir, submission, limits, worker, key="", **_):
        calls.append((submission.student_id, worker, worker.notebooks))
        worker.notebooks += 1
        status = outcomes[submission.student_id].pop(0)
        return Grade(submission.student_id, submission.assignment, status=status, key=key,
                     score=5.0 if status == "graded" else 0.0, reason=status)

    monkeypatch.setattr(autograde, "Worker", FakeWorker)
    monkeypatch.setattr(autograde, "grade_submission", grade_submission)
    return calls, outcomes


def _run(tmp_path, students, fresh=False):
    submissions = [SimpleNamespace(student_id=s, assignment="01_mnist_cam") for s in students]
    keys = {(s, "01_mnist_cam"): "key" for s in students}
    config = GradingConfig(jobs=1, fresh=fresh, progress=False)
    return autograde._grade_all(submissions, tmp_path, {"01_mnist_cam": tmp_path}, keys, config,
                                {"01_mnist_cam": None}, record=False)


def test_a_failure_after_a_neighbour_is_retried_in_a_clean_worker(tmp_path, graded):
    calls, outcomes = graded
    outcomes.update({"hostile": ["graded"], "victim": ["error", "graded"], "next": ["graded"]})
    grades = _run(tmp_path, ["hostile", "victim", "next"])
    assert [(student, notebooks_before) for student, _, notebooks_before in calls] == [
        ("hostile", 0), ("victim", 1), ("victim", 0), ("next", 1)]
    assert calls[1][1].killed and calls[2][1] is not calls[1][1]   # the poisoned worker went with its kernel
    assert [(g.student_id, g.status, g.clean) for g in grades] == [
        ("hostile", "graded", True), ("victim", "graded", True), ("next", "graded", False)]
    assert load_result(tmp_path, "victim", "01_mnist_cam").score == 5.0


def test_a_failure_in_a_clean_worker_is_final(tmp_path, graded):
    calls, outcomes = graded
    outcomes.update({"crashes": ["error"], "after": ["timeout", "timeout"]})
    grades = _run(tmp_path, ["crashes", "after"])
    # "crashes" ran first in its worker: its own failure. "after" followed it in a new (clean) worker.
    assert [(student, notebooks_before) for student, _, notebooks_before in calls] == [("crashes", 0), ("after", 0)]
    assert [(g.status, g.clean) for g in grades] == [("error", True), ("timeout", True)]


def test_a_rerun_retries_a_saved_failure_that_had_no_clean_retry(tmp_path, graded):
    calls, outcomes = graded
    save_result(tmp_path, Grade("old", "01_mnist_cam", status="error", key="key", reason="kernel died"))
    save_result(tmp_path, Grade("kept", "01_mnist_cam", status="timeout", key="key", clean=True))
    outcomes.update({"old": ["graded"]})
    grades = _run(tmp_path, ["old", "kept"])
    assert [student for student, _, _ in calls] == ["old"]          # "kept" was reused
    assert [(g.student_id, g.status, g.reused) for g in grades] == [("old", "graded", False), ("kept", "timeout", True)]


def test_only_unclean_machine_failures_need_a_retry():
    assert [needs_clean_retry(Grade("s", "n", status=status)) for status in
            ("error", "timeout", "memory", "graded", "invalid", "refused")] == [True, True, True, False, False, False]
    assert not needs_clean_retry(Grade("s", "n", status="error", clean=True))
