"""--shard K/N and collect: shards that run at once on one course folder, then collect, give
the grades of one plain run; collect is idempotent and lists what has no result yet."""

import csv
import subprocess
import sys
from collections import Counter

import pytest
from submissions import build

from grader.course import REPO_ROOT
from grader.pipeline.autograde import shard_of
from grader.pipeline.collect import collect


def test_shard_of_is_stable_and_spreads_students_evenly():
    students = [f"student{i:03d}" for i in range(300)]
    first = [shard_of(s, 3) for s in students]
    assert first == [shard_of(s, 3) for s in students]
    counts = Counter(first)
    assert set(counts) == {0, 1, 2} and min(counts.values()) >= 70, counts
    assert {shard_of(s, 1) for s in students} == {0}


@pytest.mark.parametrize("bad", ["2/2", "1/0", "-1/2", "a/b", "3"])
def test_a_bad_shard_is_refused_with_a_reason(bad, capsys):
    from grader.__main__ import main

    with pytest.raises(SystemExit) as raised:
        main(["autograde", "nowhere", "--shard", bad])
    assert raised.value.code == 2
    assert "K/N" in capsys.readouterr().err


def test_collect_without_a_class_list_says_what_to_run(tmp_path, capsys):
    assert collect(tmp_path) == 2
    assert "run `python -m grader autograde` first" in capsys.readouterr().out


# Four students (two per shard of 2): full marks, 3/5, zero, and a file that is not a notebook.
CLASS = {"ann": "reference", "bea": "true_label", "cy": "untouched", "dan": "not a notebook"}


def _class(folder):
    notebooks = {student: build.notebook_01(kind) for student, kind in CLASS.items()}
    for student, notebook in notebooks.items():
        build.write(notebook, folder, student)
    assert sorted(shard_of(s, 2) for s in notebooks) == [0, 0, 1, 1]


def _rows(course_dir):
    with open(course_dir / "grades.csv") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _grader(*arguments):
    return [sys.executable, "-m", "grader", *map(str, arguments)]


def test_two_shards_at_once_then_collect_give_the_grades_of_one_run(tmp_path):
    submissions = tmp_path / "submissions"
    _class(submissions)
    sharded = tmp_path / "sharded"
    shards = [subprocess.Popen(_grader("autograde", submissions, "--course-dir", sharded, "--jobs", 1, "--timeout",
                                       120, "--shard", f"{k}/2"), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for k in range(2)]
    outputs = [shard.communicate(timeout=900)[0] for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0], outputs
    assert not (sharded / "grades.csv").exists() and not (sharded / "gradebook.db").exists()
    assert sorted(p.name for p in (sharded / "results").glob("*.json")) == [
        f"{s}__01_mnist_cam.json" for s in CLASS]

    collected = subprocess.run(_grader("collect", "--course-dir", sharded), cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=600)
    assert collected.returncode == 0, collected.stdout[-2000:]
    # The rows a plain run gives each kind of submission (the 01 battery checks them one by one).
    assert _rows(sharded) == [build.expected_row_01(student, kind) for student, kind in CLASS.items()]
    for student in CLASS:
        assert (sharded / "feedback" / student / "01_mnist_cam" / "01_mnist_cam.html").is_file(), student

    before = (sharded / "grades.csv").read_text()
    assert collect(sharded) == 0
    assert (sharded / "grades.csv").read_text() == before   # idempotent

    (sharded / "results" / "bea__01_mnist_cam.json").unlink()   # a shard that has not finished
    again = subprocess.run(_grader("collect", "--course-dir", sharded), cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 1
    assert "1 submission(s) have no result yet" in again.stdout and "bea/01_mnist_cam" in again.stdout
    assert [r["student_id"] for r in _rows(sharded)] == ["ann", "cy", "dan"]
