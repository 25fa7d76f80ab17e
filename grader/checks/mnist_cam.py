"""Lesson 01 (``01_mnist_cam``): ``show_cam(image_index)`` returns the raw 28×28 class activation
map of the class the network predicts for test digit ``image_index``.

The reference (:func:`class_activation_map`, :func:`show_cam_reference`; the hidden tests reach
them through :mod:`grader.reference`), the fixture the capture cell puts in place of the
notebook's ``features``, ``results``, ``gap_weights``, ``X_test`` and ``y_test``, and the judge of
the three graded tests.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from grader.checks.capture import Check

ASSIGNMENT = "01_mnist_cam"
# What the hidden tests call through grader.reference. The answers are linear in a 3×3 map, so
# the sandbox's recorded table keeps four pixels of each (see grader/sandbox/replay.py).
REFERENCES = {"show_cam_reference": 4}


# ---------------------------------------------------------------- reference

def class_activation_map(features: np.ndarray, class_weights: np.ndarray, output_size: tuple[int, int] = (28, 28),
                         order: int = 2) -> np.ndarray:
    """CAM of one image for one class: M_c(x, y) = Σ_k w_k^c f_k(x, y), upsampled.

    features: (h, w, K) last conv feature maps of one image, e.g. (3, 3, 128).
    class_weights: (K,) dense-layer weights of the class, e.g. ``gap_weights[:, c]``.
    The maps are upsampled to ``output_size`` with ``scipy.ndimage.zoom`` (spline
    ``order``) before the weighted sum, as the course does. Returns float64 (H, W), raw.
    """
    features = np.asarray(features, dtype=np.float64)
    class_weights = np.asarray(class_weights, dtype=np.float64)
    if features.ndim != 3 or class_weights.shape != (features.shape[-1],):
        raise ValueError(
            f"features must be (h, w, K) and class_weights (K,), got {features.shape} and {class_weights.shape}"
        )
    height, width = features.shape[:2]
    zoom = (output_size[0] / height, output_size[1] / width, 1)
    upsampled = scipy.ndimage.zoom(features, zoom, order=order)  # (H, W, K)
    return upsampled @ class_weights


def show_cam_reference(image_index: int, features: np.ndarray, results: np.ndarray,
                       gap_weights: np.ndarray) -> np.ndarray:
    """What ``show_cam(image_index)`` of lesson 01 must return: the raw 28×28 CAM of the predicted class."""
    predicted = int(np.argmax(results[image_index]))
    return class_activation_map(features[image_index], gap_weights[:, predicted])


# ---------------------------------------------------------------- fixture and judge

def make_fixture(rng: np.random.Generator, cases: int = 8) -> dict[str, np.ndarray]:
    """Random CAM inputs: ReLU-like features, softmax results, weights; half the digits misclassified."""
    logits = rng.normal(scale=3.0, size=(cases, 10))
    results = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    predicted = results.argmax(axis=1)
    y_test = predicted.copy()
    y_test[cases // 2:] = (predicted[cases // 2:] + rng.integers(1, 10, size=cases - cases // 2)) % 10
    return {
        "features": np.maximum(rng.normal(size=(cases, 3, 3, 128)), 0).astype(np.float32),
        "results": results,
        "gap_weights": rng.normal(scale=0.3, size=(128, 10)).astype(np.float32),
        "X_test": rng.random((cases, 28, 28, 1), dtype=np.float32),
        "y_test": y_test.astype(np.int64),
        "cases": np.arange(cases),
    }


def _close(answer, expected):
    if answer is None or answer.shape != expected.shape or not np.all(np.isfinite(answer)):
        return False
    return bool(np.allclose(answer, expected, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max()))))


def judge(fixture: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """The fraction of points of each graded test: all cases the right shape, the correctly classified
    digits' maps right, the misclassified digits' maps right (of the predicted class, not the label)."""
    expected = [show_cam_reference(i, fixture["features"], fixture["results"], fixture["gap_weights"])
                for i in fixture["cases"]]
    answers = [outputs.get(f"case_{i}") for i in fixture["cases"]]
    correct = fixture["results"].argmax(axis=1) == fixture["y_test"]
    shape_ok = all(a is not None and a.shape == (28, 28) and np.all(np.isfinite(a)) for a in answers)
    matches = np.array([_close(a, e) for a, e in zip(answers, expected)])
    return {
        "test_show_cam_shape": float(shape_ok),
        "test_show_cam_values": float(matches[correct].all()),
        "test_show_cam_predicted_class": float(matches[~correct].all()),
    }


CHECK = Check(
    function="show_cam",
    replaced=("features", "results", "gap_weights", "X_test", "y_test"),
    call="function(int(case))",
    make_fixture=make_fixture,
    judge=judge,
    largest_output=lambda fixture, case: fixture["X_test"].shape[1:3],       # (28, 28), the digit's size
)
