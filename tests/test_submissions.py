import zipfile

import pytest

from grader.submissions import SubmissionSource, extract_zip, find_submissions

KNOWN = {"01_mnist_cam", "03_cats_dogs_gradcam"}


def _touch(path, text="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_flat_layout_with_numeric_and_dotted_ids(tmp_path):
    _touch(tmp_path / "12345" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "jane.doe" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "jane.doe" / "03_cats_dogs_gradcam.ipynb")
    _touch(tmp_path / "jane.doe" / "scratch.txt")
    submissions, refusals, notes = find_submissions(tmp_path, KNOWN)
    assert [(s.student_id, s.assignment) for s in submissions] == [
        ("12345", "01_mnist_cam"), ("jane.doe", "01_mnist_cam"), ("jane.doe", "03_cats_dogs_gradcam")]
    assert refusals == [] and notes == ["ignored jane.doe/scratch.txt: not a notebook"]


def test_nbgrader_submitted_layout(tmp_path):
    _touch(tmp_path / "submitted" / "ada" / "01_mnist_cam" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "submitted" / "ada" / "01_mnist_cam" / "timestamp.txt")
    _touch(tmp_path / "submitted" / "bob" / "03_cats_dogs_gradcam" / "03_cats_dogs_gradcam.ipynb")
    for root in (tmp_path, tmp_path / "submitted"):
        submissions, refusals, _ = find_submissions(root, KNOWN)
        assert [(s.student_id, s.assignment, s.path.name) for s in submissions] == [
            ("ada", "01_mnist_cam", "01_mnist_cam.ipynb"), ("bob", "03_cats_dogs_gradcam", "03_cats_dogs_gradcam.ipynb")]
        assert refusals == []


def test_ids_with_spaces_and_case_twins_are_refused_with_a_reason(tmp_path):
    _touch(tmp_path / "jane doe" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "Alice" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "alice" / "01_mnist_cam.ipynb")
    _touch(tmp_path / "bob" / "01_mnist_cam.ipynb")
    submissions, refusals, _ = find_submissions(tmp_path, KNOWN)
    assert [s.student_id for s in submissions] == ["bob"]
    reasons = {r.student_id: r.reason for r in refusals}
    assert set(reasons) == {"jane doe", "Alice", "alice"}
    assert "rename the folder" in reasons["jane doe"]
    assert "differ only in case" in reasons["alice"] and "'Alice'" in reasons["alice"]


def test_unknown_notebooks_and_loose_files_are_noted(tmp_path):
    _touch(tmp_path / "ada" / "homework.ipynb")
    _touch(tmp_path / "README.txt")
    submissions, _, notes = find_submissions(tmp_path, KNOWN)
    assert submissions == []
    assert "ignored ada/homework.ipynb: no such notebook in this course" in notes
    assert "ignored README.txt: not a student folder" in notes


def test_zip_with_one_top_folder_is_unpacked(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("class/ada/01_mnist_cam.ipynb", "{}")
        handle.writestr("class/bob/01_mnist_cam.ipynb", "{}")
    with SubmissionSource(archive) as root:
        submissions, _, _ = find_submissions(root, KNOWN)
        assert [s.student_id for s in submissions] == ["ada", "bob"]
        assert all(s.path.is_file() for s in submissions)
    assert not submissions[0].path.exists()  # the temporary copy is gone afterwards


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../outside.ipynb", "{}")
    with pytest.raises(ValueError, match="outside the archive"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "outside.ipynb").exists()


def test_a_path_that_is_neither_folder_nor_zip_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="neither a folder"):
        with SubmissionSource(_touch(tmp_path / "grades.txt")):
            pass
