"""Lesson 03 (``03_cats_dogs_gradcam``): ``get_CAM(image, class_index, layer_name)`` returns the
Grad-CAM map of ``image`` for one class at one layer of the notebook's ``model``, normalized to [0, 1].

The reference (:func:`grad_cam`, batched; the hidden tests reach it through :mod:`grader.reference`),
the fixture (the packaged photos in a random order, and a small network whose one class has nothing
positive), the code the capture cell runs for each case, and the judge of the four graded tests.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import threading
import warnings
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from grader.checks.capture import Check

if TYPE_CHECKING:   # Keras is imported when a model is built, not with the grader
    import keras

ASSIGNMENT = "03_cats_dogs_gradcam"
REFERENCES = {"grad_cam": None}   # what the hidden tests call through grader.reference (whole answers recorded)

# Keras warns when a model built on `model.inputs` (a list) is called with one tensor, as the judge
# does; harmless. A filter for the process, not warnings.catch_warnings(), which is not thread-safe:
# the judges of two jobs run in two threads.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")


# ---------------------------------------------------------------- reference: Grad-CAM, batched

GRAD_CAM_EPSILON = 1e-12

# model -> {layer name: tf.function}; weak keys so a deleted model takes its functions along.
_GRAD_CAM_FUNCTIONS = weakref.WeakKeyDictionary()


def _conv_layer_names(model):
    """Names of the model's layers whose output is 4-D (batch, h, w, channels), in order."""
    names = []
    for layer in model.layers:
        try:
            if len(layer.output.shape) == 4 and "conv" in layer.__class__.__name__.lower():
                names.append(layer.name)
        except (AttributeError, ValueError):  # layers without a single symbolic output
            continue
    return names


def _grad_cam_layer(model, layer_name):
    """The layer ``layer_name`` of ``model``; a ValueError listing the conv layers if absent or not 4-D."""
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(
            f"layer '{layer_name}' not found in model '{model.name}'; its conv layers are: "
            f"{', '.join(_conv_layer_names(model)) or 'none'}"
        )
    layer = model.get_layer(layer_name)
    if len(layer.output.shape) != 4:
        raise ValueError(
            f"Grad-CAM needs a layer with output (batch, h, w, channels); '{layer_name}' gives "
            f"{tuple(layer.output.shape)}. Conv layers: {', '.join(_conv_layer_names(model))}"
        )
    return layer


def _build_grad_cam_function(model, layer_name):
    """One ``tf.function`` (images (n, H, W, C), class indices (n,)) -> (A (n, h, w, K), ∂y^c/∂A (n, h, w, K)).

    Built once per (model, layer): the gradient model inputs -> [layer output, model output].
    """
    import keras
    import tensorflow as tf

    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)

    layer = _grad_cam_layer(model, layer_name)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"grad_cam needs a model with one input and one output; '{model.name}' has "
            f"{len(model.inputs)} and {len(model.outputs)}"
        )
    gradient_model = keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
    image_spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32)

    @tf.function(input_signature=[image_spec, tf.TensorSpec((None,), tf.int32)])
    def maps_and_gradients(images, class_indices):
        with tf.GradientTape() as tape:
            feature_maps, predictions = gradient_model(images, training=False)  # (n, h, w, K), (n, classes)
            class_scores = tf.gather(predictions, class_indices, axis=1, batch_dims=1)  # y^c per image, (n,)
        return feature_maps, tape.gradient(class_scores, feature_maps)  # A^k_ij and ∂y^c/∂A^k_ij

    return maps_and_gradients


def _grad_cam_function(model, layer_name):
    """The cached ``tf.function`` of :func:`_build_grad_cam_function` for (model, layer_name)."""
    functions = _GRAD_CAM_FUNCTIONS.setdefault(model, {})
    if layer_name not in functions:
        functions[layer_name] = _build_grad_cam_function(model, layer_name)
    return functions[layer_name]


def _grad_cam_class_indices(class_indices, num_images, num_classes):
    """An int32 vector (num_images,) from one index or one per image; ValueError when out of range."""
    indices = np.asarray(class_indices)
    if indices.ndim == 0:
        indices = np.full(num_images, indices)
    if indices.shape != (num_images,) or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"class_indices must be one integer or {num_images} integers (one per image), "
            f"got {np.asarray(class_indices)!r}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(f"class indices must be in 0-{num_classes - 1}, got {indices.tolist()}")
    return indices.astype(np.int32)


def grad_cam(model: keras.Model, images: np.ndarray, class_indices: int | Sequence[int] | np.ndarray,
             layer_name: str, dtype: type = np.float32) -> np.ndarray:
    """Grad-CAM maps of a batch: L^c = ReLU(Σ_k α_k^c A^k), α_k^c = mean_ij ∂y^c/∂A^k_ij.

    model: a Keras model with one output (logits or probabilities; y^c is its column c).
    images: (n, H, W, C) already preprocessed for the model (float32).
    class_indices: one class for all images, or n classes (one per image).
    layer_name: a layer with output (n, h, w, K), usually the rectified output of the last conv
        block, as in the paper (lesson 03: ``top_activation``, the ReLU6 after ``top_conv``).
    Returns (n, h, w) in [0, 1] of ``dtype``, each map divided by its own maximum (an
    all-≤0 map gives zeros, never NaN). The model always runs in float32; with
    ``dtype=np.float64`` it runs eagerly (as a student's get_CAM does) and the weighted sum and
    the normalization are done in float64: the difference to the float32 answer measures how
    much round-off moves a map whose sum nearly cancels. The sum over channels matches the paper and
    tf-keras-vis; the course's ``np.mean`` differs by the factor 1/K, which the
    normalization removes. The gradient model and its ``tf.function`` are built once
    per (model, layer) and reused, so one call costs about one forward + backward pass.
    """
    images = np.asarray(images, dtype=np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if images.ndim != 4 or any(size is not None and size != got for size, got in zip(expected, images.shape[1:])):
        raise ValueError(f"images must have shape (n,) + {expected} for model '{model.name}', got {images.shape}")
    num_classes = int(model.outputs[0].shape[-1])
    indices = _grad_cam_class_indices(class_indices, len(images), num_classes)
    function = _grad_cam_function(model, layer_name)
    if np.dtype(dtype) == np.float64:
        function = function.python_function  # the same steps, run eagerly
    feature_maps, gradients = function(images, indices)
    feature_maps, gradients = feature_maps.numpy().astype(dtype), gradients.numpy().astype(dtype)
    alphas = gradients.mean(axis=(1, 2), keepdims=True)  # α_k^c, (n, 1, 1, K)
    maps = np.maximum((alphas * feature_maps).sum(axis=-1), 0)  # ReLU(Σ_k α_k^c A^k), (n, h, w)
    peaks = maps.max(axis=(1, 2), keepdims=True)  # (n, 1, 1)
    return maps / np.maximum(peaks, GRAD_CAM_EPSILON)


# ---------------------------------------------------------------- fixture and judge

# The notebook's LAYER_NAME and SECOND_LAYER_NAME: rectified outputs (ReLU6, A ≥ 0) as in the Grad-CAM paper,
# the last block's (7×7×1280) and the last one at 14×14 (14×14×672).
GRAD_CAM_LAYERS = ("top_activation", "block11_expand_activation")
GRAD_CAM_PHOTOS = ("chelsea", "coffee", "astronaut")


@functools.lru_cache(maxsize=1)
def cats_vs_dogs_model() -> keras.Model:
    """Lesson 03's model (:func:`helpers.models.cats_vs_dogs_classifier`), built once per process."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    from helpers.models import cats_vs_dogs_classifier

    return cats_vs_dogs_classifier()


def _grader_tiny_model(conv_weights, dense_weights, conv_bias=None):
    """The small Grad-CAM test network of the checks and the tests: (n, 6, 6, C) -> 3×3 conv + ReLU
    ``grader_features`` (n, 6, 6, K) -> global average pooling -> ``grader_scores`` (n, classes).

    ``conv_weights`` (3, 3, C, K), ``dense_weights`` (K, classes), ``conv_bias`` (K,) or None
    (zeros); the dense bias is zero. Copied into the capture cell, so it is built the same way
    in the kernel and here."""
    import keras
    import numpy

    channels, classes = conv_weights.shape[-1], dense_weights.shape[-1]
    inputs = keras.Input((6, 6, conv_weights.shape[-2]))
    features = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="grader_features")(inputs)
    scores = keras.layers.Dense(classes, name="grader_scores")(keras.layers.GlobalAveragePooling2D()(features))
    tiny_model = keras.Model(inputs, scores, name="grader_tiny")
    bias = numpy.zeros(channels) if conv_bias is None else conv_bias
    tiny_model.get_layer("grader_features").set_weights(
        [numpy.asarray(conv_weights, numpy.float32), numpy.asarray(bias, numpy.float32)])
    tiny_model.get_layer("grader_scores").set_weights(
        [numpy.asarray(dense_weights, numpy.float32), numpy.zeros(classes, numpy.float32)])
    return tiny_model


GRAD_CAM_CALL_SOURCE = '''
def _grader_call(names, function, fixture, case):
    """Photo cases call get_CAM as it is; the last cases swap in a small network for `model`."""
    photos = len(fixture["labels"])
    if case < photos:
        return function(fixture["images"][case:case + 1], int(fixture["labels"][case]), str(fixture["layers"][case]))
    tiny = case - photos
    saved_model = names.get("model")
    names["model"] = _grader_tiny_model(fixture["tiny_conv"], fixture["tiny_dense"])
    try:
        return function(fixture["tiny_images"][tiny:tiny + 1], int(fixture["tiny_labels"][tiny]), "grader_features")
    finally:
        names["model"] = saved_model
'''


@functools.lru_cache(maxsize=1)
def _grad_cam_photos():
    """The packaged photos, (3, 224, 224, 3) uint8, read once per process."""
    from helpers.images import sample_photo

    return np.stack([sample_photo(name) for name in GRAD_CAM_PHOTOS])


_REMEMBERED, _REMEMBERED_LOCK = {}, threading.Lock()


def _remembered(key, compute):
    """``compute()``, done once per process for each ``key`` (a class draws the same few photos
    again and again, in new orders and mirrorings); one call at a time: the grader's threads
    share one model."""
    with _REMEMBERED_LOCK:
        if key not in _REMEMBERED:
            _REMEMBERED[key] = compute()
        return _REMEMBERED[key]


def make_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The packaged photos in a random order, some mirrored; both labels for each; a random layer each.
    Then two cases on a small network with positive filters whose class ``negative`` has only
    negative weights: that class's map must be all zeros (no NaN), the other its Grad-CAM."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    from helpers.models import imagenet_preprocess

    order = rng.permutation(len(GRAD_CAM_PHOTOS))
    photos = _grad_cam_photos()[order]                                     # a copy: fancy indexing
    flips = rng.random(len(photos)) < 0.5
    photos[flips] = photos[flips, :, ::-1]
    images = imagenet_preprocess(photos)                                   # (3, 224, 224, 3)
    cases = len(images) * 2
    channels, negative = int(rng.integers(3, 7)), int(rng.integers(0, 2))
    dense = rng.uniform(0.5, 1.0, (channels, 2))
    dense[:, negative] *= -1
    return {
        "images": np.repeat(images, 2, axis=0),                            # (6, 224, 224, 3)
        "labels": np.tile([0, 1], len(images)),
        "layers": np.array([GRAD_CAM_LAYERS[i] for i in rng.integers(0, 2, size=cases)]),
        "tiny_conv": rng.uniform(0.1, 1.0, (3, 3, 3, channels)).astype(np.float32),
        "tiny_dense": dense.astype(np.float32),
        "tiny_images": rng.uniform(0.0, 1.0, (2, 6, 6, 3)).astype(np.float32),
        "tiny_labels": np.array([negative, 1 - negative]),
        "cases": np.arange(cases + 2),
    }


def judge(fixture: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """The fraction of points of each graded test: every map of the right shape and normalized, the
    photos' maps right for the class the model predicts and for the other one, the small network's
    maps right (zeros, never NaN, for the class with nothing positive)."""
    return _grad_cam_scores(fixture, outputs)


def _grad_cam_scores(fixture, outputs):
    model = cats_vs_dogs_model()
    shape_ok, matches, is_top = True, [], []
    for case in range(len(fixture["labels"])):
        layer = str(fixture["layers"][case])
        image, label = fixture["images"][case:case + 1], int(fixture["labels"][case])
        photo = hashlib.sha1(image.tobytes()).hexdigest()
        top = _remembered(photo, lambda: int(np.asarray(model.predict(image, verbose=0)).argmax(axis=1)[0]))
        is_top.append(label == top)
        expected = _remembered((photo, label, layer, "float32"), lambda: grad_cam(model, image, [label], layer)[0])
        answer = outputs.get(f"case_{case}")
        if answer is None or answer.shape != expected.shape or not np.all(np.isfinite(answer)) or answer.min() < 0:
            shape_ok = False
            matches.append(False)
            continue
        scaled = answer / answer.max() if answer.max() > 0 else answer

        def within(tolerance):   # (the peak is 1, or 0 if nothing is positive; the map matches)
            return (abs(answer.max() - expected.max()) < max(1e-3, tolerance),
                    np.allclose(scaled, expected, atol=tolerance))

        peak_ok, match = within(1e-4)
        if not (peak_ok and match):
            # Where the class barely registers, Σ_k α_k A^k is a near-cancelling sum and float32 noise
            # shows after normalization: widen the tolerance by the noise measured against float64 (only
            # needed, and computed, when the answer is not within the narrowest tolerance already).
            precise = _remembered((photo, label, layer, "float64"),
                                  lambda: grad_cam(model, image, [label], layer, dtype=np.float64)[0])
            peak_ok, match = within(1e-4 + 10 * float(np.abs(precise - expected).max()))
        shape_ok &= bool(peak_ok)
        matches.append(bool(match))
    matches, is_top = np.array(matches), np.array(is_top)
    return {
        "test_get_CAM_shape_and_range": float(shape_ok),
        "test_get_CAM_predicted_class": float(matches[is_top].all()),
        "test_get_CAM_other_class": float(matches[~is_top].all()),
        "test_get_CAM_nothing_positive": float(_tiny_cases_right(fixture, outputs)),
    }


def _tiny_cases_right(fixture, outputs):
    """The small network's cases: zeros (not NaN) for the negative class, its Grad-CAM (up to scale:
    normalization is test_get_CAM_shape_and_range's business) for the other."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    tiny_model = _grader_tiny_model(fixture["tiny_conv"], fixture["tiny_dense"])
    for tiny, label in enumerate(fixture["tiny_labels"]):
        answer = outputs.get(f"case_{len(fixture['labels']) + tiny}")
        expected = grad_cam(tiny_model, fixture["tiny_images"][tiny:tiny + 1], [int(label)], "grader_features")[0]
        if answer is None or answer.shape != expected.shape or not np.all(np.isfinite(answer)):
            return False
        scaled = answer / answer.max() if answer.max() > 0 else answer
        if not np.allclose(scaled, expected, atol=1e-4):
            return False
    return True


def _largest_output(fixture, case):
    """A Grad-CAM map has its layer's resolution, never more than its image's: (224, 224) for the
    photos (the layers of GRAD_CAM_LAYERS give 7×7 or 14×14), (6, 6) for the small network's cases."""
    images = fixture["images"] if case < len(fixture["labels"]) else fixture["tiny_images"]
    return images.shape[1:3]


CHECK = Check(
    function="get_CAM",
    replaced=(),
    call="_grader_call(names, function, fixture, case)",
    make_fixture=make_fixture,
    judge=judge,
    largest_output=_largest_output,
    prelude=inspect.getsource(_grader_tiny_model) + GRAD_CAM_CALL_SOURCE,
)
