"""The independent checks judge saved outputs: right answers pass, wrong ones fail, missing ones score 0."""

import numpy as np
import pytest

from grader import checks, reference
from grader.checks import cats_dogs_gradcam


def _save(path, outputs):
    np.savez(path, **{f"case_{i}": np.asarray(v, dtype=np.float64) for i, v in outputs.items()})


@pytest.fixture
def cam_fixture(tmp_path):
    path = tmp_path / "fixture.npz"
    checks.write_fixture("01_mnist_cam", path, seed=5)
    return path, dict(np.load(path))


def test_cam_fixture_has_correct_and_misclassified_digits(cam_fixture):
    _, fixture = cam_fixture
    correct = fixture["results"].argmax(axis=1) == fixture["y_test"]
    assert correct.sum() == 4 and (~correct).sum() == 4
    assert fixture["features"].min() >= 0 and fixture["features"].shape == (8, 3, 3, 128)


def test_cam_check_passes_the_reference_and_fails_the_true_label(tmp_path, cam_fixture):
    path, fixture = cam_fixture
    right = {i: reference.show_cam_reference(i, fixture["features"], fixture["results"], fixture["gap_weights"])
             for i in fixture["cases"]}
    _save(tmp_path / "right.npz", right)
    assert checks.judge("01_mnist_cam", path, tmp_path / "right.npz") == {
        "test_show_cam_shape": 1.0, "test_show_cam_values": 1.0, "test_show_cam_predicted_class": 1.0}
    true_label = {i: reference.class_activation_map(fixture["features"][i],
                                                    fixture["gap_weights"][:, fixture["y_test"][i]])
                  for i in fixture["cases"]}
    _save(tmp_path / "true_label.npz", true_label)
    assert checks.judge("01_mnist_cam", path, tmp_path / "true_label.npz") == {
        "test_show_cam_shape": 1.0, "test_show_cam_values": 1.0, "test_show_cam_predicted_class": 0.0}


def test_missing_or_unreadable_outputs_score_zero(tmp_path, cam_fixture):
    path, _ = cam_fixture
    (tmp_path / "junk.npz").write_bytes(b"junk")
    for outputs in (tmp_path / "absent.npz", tmp_path / "junk.npz"):
        assert set(checks.judge("01_mnist_cam", path, outputs).values()) == {0.0}


def test_capture_cell_is_valid_python_that_names_the_function(cam_fixture, tmp_path):
    source = checks.capture_cell_source(checks.CHECKS["01_mnist_cam"], cam_fixture[0], tmp_path / "out.npz")
    compile(source, "capture", "exec")
    assert "show_cam" in source and str(cam_fixture[0]) in source


def test_grad_cam_check_passes_the_reference_and_fails_an_unnormalized_map(tmp_path):
    path = tmp_path / "fixture.npz"
    checks.write_fixture("03_cats_dogs_gradcam", path, seed=1)
    fixture = dict(np.load(path))
    assert set(fixture["labels"]) == {0, 1} and fixture["images"].shape == (6, 224, 224, 3)
    model = cats_dogs_gradcam.cats_vs_dogs_model()
    photos = len(fixture["labels"])
    right = {c: reference.grad_cam(model, fixture["images"][c:c + 1], [int(fixture["labels"][c])],
                                   str(fixture["layers"][c]))[0] for c in range(photos)}
    tiny_model = cats_dogs_gradcam._grader_tiny_model(fixture["tiny_conv"], fixture["tiny_dense"])
    tiny = [reference.grad_cam(tiny_model, fixture["tiny_images"][t:t + 1], [int(label)], "grader_features")[0]
            for t, label in enumerate(fixture["tiny_labels"])]
    assert fixture["cases"].tolist() == list(range(photos + 2))
    assert np.all(tiny[0] == 0) and tiny[1].max() == 1      # the negative class, then the positive one
    right.update({photos: tiny[0], photos + 1: tiny[1]})
    _save(tmp_path / "right.npz", right)
    assert checks.judge("03_cats_dogs_gradcam", path, tmp_path / "right.npz") == {
        "test_get_CAM_shape_and_range": 1.0, "test_get_CAM_predicted_class": 1.0, "test_get_CAM_other_class": 1.0,
        "test_get_CAM_nothing_positive": 1.0}
    with_nan = {**right, photos: np.full_like(tiny[0], np.nan)}
    _save(tmp_path / "nan.npz", with_nan)
    assert checks.judge("03_cats_dogs_gradcam", path, tmp_path / "nan.npz")["test_get_CAM_nothing_positive"] == 0.0
    doubled = {case: 2 * value for case, value in right.items()}
    _save(tmp_path / "doubled.npz", doubled)
    assert checks.judge("03_cats_dogs_gradcam", path, tmp_path / "doubled.npz")["test_get_CAM_shape_and_range"] == 0.0
