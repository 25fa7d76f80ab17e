"""autograde makes its two nbgrader courses (the course's gradebook, and the template course every
submission is graded in a private copy of) with ``generate_assignment`` in the jobs' workers, not one
nbgrader process per course and assignment: the course's in the first worker, the template's in the
last. A generation that fails stops the run with nbgrader's reason."""

import json
import sqlite3
from types import SimpleNamespace

import pytest

from grader.course import nbgrader_environment, stage_course
from grader.pipeline import autograde
from grader.pipeline.worker import Worker


class RecordingWorker:
    """Stands in for grader.pipeline.worker.Worker: records the generate requests, succeeds."""

    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def call(self, request, timeout_seconds=None, memory_limit_bytes=None):
        self.calls.append((self.name, request["command"], request["course_dir"], request["assignment"]))
        return SimpleNamespace(answer={"success": True, "log": ""}, failure=None, output="")


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_the_course_goes_to_the_first_worker_and_the_template_to_the_last(tmp_path, workers):
    calls = []
    pool = [RecordingWorker(index, calls) for index in range(workers)]
    assignments = ["01_mnist_cam", "03_cats_dogs_gradcam", "04_zfnet_unpooling"]
    course, template = tmp_path / "course", tmp_path / "template"
    templates = autograde._prepare_courses(course, template, assignments, pool)

    assert templates == {a: template for a in assignments}
    assert [(worker, a) for worker, _, folder, a in calls if folder == str(course)] == [(0, a) for a in assignments]
    assert [(worker, a) for worker, _, folder, a in calls if folder == str(template)] == [(workers - 1, a)
                                                                                          for a in assignments]
    assert len(calls) == 2 * len(assignments) and {command for _, command, _, _ in calls} == {"generate"}
    for folder in (course, template):   # what nbgrader reads: the config and the solutions as sources
        assert (folder / "nbgrader_config.py").is_file()
        for assignment in assignments:
            assert (folder / "source" / assignment / f"{assignment}.ipynb").is_file()


def test_only_refusals_need_no_worker(tmp_path):
    assert autograde._prepare_courses(tmp_path / "course", tmp_path / "template", [], []) == {}
    assert (tmp_path / "course" / "nbgrader_config.py").is_file()


def test_a_worker_generates_an_assignment_and_names_the_one_it_could_not(tmp_path):
    worker = Worker(nbgrader_environment())
    try:
        course = stage_course(tmp_path / "course", ["04_zfnet_unpooling"])
        autograde._generate(worker, [(course, "04_zfnet_unpooling")])
        released = json.loads((course / "release" / "04_zfnet_unpooling" / "04_zfnet_unpooling.ipynb").read_text())
        sources = ["".join(cell["source"]) for cell in released["cells"]]
        assert any("raise NotImplementedError()" in source for source in sources)
        assert not any("BEGIN SOLUTION" in source or "BEGIN HIDDEN TESTS" in source for source in sources)
        with sqlite3.connect(course / "gradebook.db") as database:
            query = "select name, max_score from base_cell join grade_cells using (id)"
            cells = dict(database.execute(query).fetchall())
        assert len(cells) == 5 and sum(cells.values()) == 6, cells   # 04's five tests, 6 points
        assert cells["test_pool_slide_example"] == 1, cells

        with pytest.raises(RuntimeError, match="nbgrader could not generate 99_nowhere"):
            autograde._generate(worker, [(course, "99_nowhere")])
        assert worker.alive()   # a failed generation leaves the worker serving
    finally:
        worker.close()
