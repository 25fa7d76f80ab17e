"""Lesson 02 (``02_imagenet_saliency``): ``saliency_map(model, photos, class_index)`` returns the
saliency maps of uint8 RGB photos (n, 224, 224, 3) for one class: the gradient of the class's logit
z_c with respect to the preprocessed input, M = Σ_k |∂z_c/∂x_k| over the colour channels, each map
min-max scaled to [0, 1] (with an ε, so that a flat map gives zeros, never NaN).

The reference (:func:`saliency_map_reference`; the hidden tests reach it through
:mod:`grader.reference`), the fixture (a small random network on 224×224 photos, built from the
fixture's arrays in the kernel and here, and random photos), the code the capture cell runs for each
case, and the judge of the four graded tests. The judge never needs the ImageNet network.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np

from grader.checks.capture import Check

if TYPE_CHECKING:   # Keras is imported when a model is built, not with the grader
    import keras

ASSIGNMENT = "02_imagenet_saliency"
REFERENCES = {"saliency_map_reference": None}   # what the hidden tests call through grader.reference (whole answers)

SALIENCY_EPSILON = 1e-12   # the lesson's ε: (M − min M) / (max M − min M + ε)


# ---------------------------------------------------------------- reference

def min_max_scaled(maps: np.ndarray, epsilon: float = SALIENCY_EPSILON) -> np.ndarray:
    """Maps (n, H, W) -> float64 (n, H, W), each scaled by its own minimum and maximum to [0, 1];
    a flat map (all values equal) gives zeros, not NaN."""
    maps = np.asarray(maps, dtype=np.float64)
    low = maps.min(axis=(1, 2), keepdims=True)                       # (n, 1, 1)
    high = maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / (high - low + epsilon)


def saliency_map_reference(model: keras.Model, photos: np.ndarray, class_index: int) -> np.ndarray:
    """What ``saliency_map(model, photos, class_index)`` of lesson 02 must return.

    model: a classifier of ``imagenet_preprocess``'d images (n, 224, 224, 3) that returns logits
        (n, classes), like ``helpers.models.imagenet_classifier()``.
    photos: uint8 RGB (n, 224, 224, 3); they are preprocessed here with ``imagenet_preprocess``.
    class_index: one class, in the model's numbering (the husky is 250 in a 1000-class head).
    Returns float64 (n, 224, 224): M_ij = Σ_k |∂z_c/∂x_ijk| (x the preprocessed input, z_c the
    logit), each map min-max scaled to [0, 1] with ε = 1e-12 (a flat map gives zeros).
    """
    import tensorflow as tf

    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    from helpers.models import imagenet_preprocess

    num_classes = int(model.outputs[0].shape[-1])
    if not 0 <= int(class_index) < num_classes:
        raise ValueError(f"class_index must be in 0-{num_classes - 1}, got {class_index}")
    images = tf.convert_to_tensor(imagenet_preprocess(photos))                 # (n, 224, 224, 3) float32
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = model(images, training=False)[:, int(class_index)]           # z_c, (n,)
    gradients = tape.gradient(scores, images).numpy().astype(np.float64)      # ∂z_c/∂x, (n, 224, 224, 3)
    return min_max_scaled(np.abs(gradients).sum(axis=-1))                     # (n, 224, 224)


# ---------------------------------------------------------------- the small network of the check

def _grader_saliency_model(conv_kernel, conv_bias, dense_kernel, dense_bias):
    """The check's small network: (n, 224, 224, 3) -> an 8×8 convolution with stride 8 and softplus
    (n, 28, 28, K) -> global average pooling -> ``grader_scores``, logits (n, classes).

    ``conv_kernel`` (8, 8, 3, K), ``conv_bias`` (K,), ``dense_kernel`` (K, classes), ``dense_bias``
    (classes,). The softplus, log(1 + e^a), makes the gradient depend on the point where it is taken
    (its slope is the sigmoid of a), so a wrong preprocessing gives another map; it never saturates
    on both sides, so even unscaled pixels (0-255) give a map that is not flat. Copied into the
    capture cell, so it is built the same way in the kernel and here."""
    import keras
    import numpy

    inputs = keras.Input((224, 224, 3))
    features = keras.layers.Conv2D(conv_kernel.shape[-1], 8, strides=8, activation="softplus",
                                   name="grader_conv")(inputs)                                  # (n, 28, 28, K)
    pooled = keras.layers.GlobalAveragePooling2D()(features)                                     # (n, K)
    scores = keras.layers.Dense(dense_kernel.shape[-1], name="grader_scores")(pooled)
    small_model = keras.Model(inputs, scores, name="grader_saliency")
    small_model.get_layer("grader_conv").set_weights(
        [numpy.asarray(conv_kernel, numpy.float32), numpy.asarray(conv_bias, numpy.float32)])
    small_model.get_layer("grader_scores").set_weights(
        [numpy.asarray(dense_kernel, numpy.float32), numpy.asarray(dense_bias, numpy.float32)])
    return small_model


SALIENCY_CALL_SOURCE = '''
_GRADER_SALIENCY_MODELS = []


def _grader_saliency_call(function, fixture, case):
    """Case `case`: the student's saliency_map on the small network (built once) and two photos."""
    if not _GRADER_SALIENCY_MODELS:
        _GRADER_SALIENCY_MODELS.append(_grader_saliency_model(
            fixture["conv_kernel"], fixture["conv_bias"], fixture["dense_kernel"], fixture["dense_bias"]))
    return function(_GRADER_SALIENCY_MODELS[0], fixture["photos"][case], int(fixture["classes"][case]))
'''


def _patches(photos):
    """uint8 photos (n, 224, 224, 3) -> preprocessed 8×8×3 patches (n, 28, 28, 192), float64."""
    images = (np.asarray(photos, dtype=np.float64) - 127.0) / 128.0           # imagenet_preprocess
    return images.reshape(len(images), 28, 8, 28, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(len(images), 28, 28, -1)


def small_network_logits(fixture: dict[str, np.ndarray], photos: np.ndarray) -> np.ndarray:
    """The small network's logits (n, classes) of uint8 photos (n, 224, 224, 3), in NumPy (float64).

    The stride equals the kernel size, so the convolution is a matrix product of the 8×8×3 patches."""
    kernel = fixture["conv_kernel"].reshape(-1, fixture["conv_kernel"].shape[-1])            # (192, K)
    features = np.logaddexp(0, _patches(photos) @ kernel + fixture["conv_bias"])             # softplus, (n, 28, 28, K)
    return features.mean(axis=(1, 2)) @ fixture["dense_kernel"] + fixture["dense_bias"]     # (n, classes)


def small_network_saliency(fixture: dict[str, np.ndarray], photos: np.ndarray, class_index: int) -> np.ndarray:
    """M = Σ_k |∂z_c/∂x_k| of the small network, (n, 224, 224), by the chain rule in NumPy (not scaled).

    z_c = Σ_K D_Kc · mean_patches softplus(a_K), a = patch · W + b, softplus' = sigmoid, so
    ∂z_c/∂patch = W (sigmoid(a) ⊙ D_c) / 784."""
    kernel = fixture["conv_kernel"].reshape(-1, fixture["conv_kernel"].shape[-1])            # (192, K)
    pre_activations = _patches(photos) @ kernel + fixture["conv_bias"]                        # a, (n, 28, 28, K)
    per_patch = fixture["dense_kernel"][:, class_index] / (1 + np.exp(-pre_activations)) / (28 * 28)
    gradients = per_patch @ kernel.T                                                          # (n, 28, 28, 192)
    count = len(gradients)
    gradients = gradients.reshape(count, 28, 28, 8, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(count, 224, 224, 3)
    return np.abs(gradients).sum(axis=-1)


# ---------------------------------------------------------------- fixture and judge

NUM_CLASSES = 256          # more than 251: an answer that uses the 1001-class index 251 gets a map, a wrong one
HUSKY = 250                # the lesson's class: 251 in a 1001-class head
FEATURES = 6               # K, the small network's feature maps
CASE_NAMES = ("top", "husky", "other", "flat")   # what each case's class is; the case's number is its position


RANGE_TOLERANCE = 0.01     # a map's minimum must be within this of 0 and its maximum of 1


def _two_photos(rng, fixture, class_index, tries=50):
    """Two random uint8 photos (2, 224, 224, 3), the second of lower contrast, whose maps (if not flat)
    have clearly different ranges: scaled together (one minimum and maximum for the batch) instead of
    one by one, one map's minimum or maximum would be off by more than 5 times RANGE_TOLERANCE."""
    for _ in range(tries):
        photos = rng.integers(0, 256, (2, 224, 224, 3)).astype(np.uint8)
        low, high = sorted(rng.integers(40, 216, 2))
        photos[1] = low + (photos[1].astype(np.int64) * (high + 1 - low)) // 256          # pixels low..high
        maps = small_network_saliency(fixture, photos, class_index)                       # (2, 224, 224)
        if not maps.any():
            return photos                                                                  # the flat class
        together = (maps - maps.min()) / (maps.max() - maps.min())
        off = max(np.abs(together.min(axis=(1, 2))).max(), np.abs(together.max(axis=(1, 2)) - 1).max())
        if off > 5 * RANGE_TOLERANCE:
            return photos
    raise RuntimeError("could not draw two photos whose saliency maps have different ranges")


def make_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A small random network of 256 classes and four cases of two random photos each (one of full
    contrast, one of lower contrast), each case for one class:

    - ``top``: the class the network predicts for both photos (by a margin that keeps p below
      0.99, so that the loss's gradient is not the logit's);
    - ``husky``: class 250, not the top one; ``other``: a random class, not the top one;
    - ``flat``: a class whose weights are all zero: its gradient is zero everywhere, its maps zeros.

    Feature map 0 has only positive (small) weights and feature map 1 only negative ones, so
    whatever the pixels' scale (a wrong preprocessing: 0-255, or the mean subtracted), one of them
    has a slope somewhere and no map of a class with weights comes out flat (which would fail the
    range test on some fixtures and not on others). Only the top class, 250 and the other class
    are likely (bias 0 or more); every other class has bias −10, so the softmax (a loss) mixes in
    a few classes, not 253 of them."""
    top, other, flat = (int(c) for c in rng.choice(np.setdiff1d(np.arange(NUM_CLASSES), [HUSKY, HUSKY + 1]), 3,
                                                  replace=False))
    conv_kernel = rng.normal(0.0, 0.15, (8, 8, 3, FEATURES))
    conv_kernel[..., :2] = np.abs(rng.normal(0.0, 0.015, (8, 8, 3, 2))) * [1, -1]     # weak, one sign each
    conv_bias = rng.normal(0.0, 0.3, FEATURES)
    dense_kernel = rng.normal(0.0, 0.5, (FEATURES, NUM_CLASSES))
    dense_kernel[:, flat] = 0.0
    dense_bias = np.full(NUM_CLASSES, -10.0)
    dense_bias[[top, HUSKY, other]] = 0.0
    fixture = {"conv_kernel": conv_kernel.astype(np.float32), "conv_bias": conv_bias.astype(np.float32),
               "dense_kernel": dense_kernel.astype(np.float32), "dense_bias": dense_bias.astype(np.float32)}
    classes = np.array([top, HUSKY, other, flat])
    photos = np.stack([_two_photos(rng, fixture, int(class_index)) for class_index in classes])  # (4, 2, 224, 224, 3)
    logits = small_network_logits(fixture, photos.reshape((-1,) + photos.shape[2:]))          # (8, classes)
    margin = (np.delete(logits, top, axis=1).max(axis=1) - logits[:, top]).max()            # how far top is behind
    fixture["dense_bias"][top] = float(margin) + rng.uniform(0.3, 1.0)                        # top by 0.3-1 at least
    fixture.update(photos=photos, classes=classes, cases=np.arange(len(CASE_NAMES)))
    return fixture


MAP_TOLERANCE = 2e-3       # on maps in [0, 1]: float32 round-off is about 1e-5


def _answer(outputs, case, shape):
    """Case ``case``'s answer, or None when missing, of another shape or not finite."""
    answer = outputs.get(f"case_{case}")
    if answer is None or answer.shape != shape or not np.all(np.isfinite(answer)):
        return None
    return answer


def judge(fixture: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """The fraction of points of each graded test: the maps' shape and range (every map of the
    non-flat cases from 0 to 1), the top class's maps, the other classes' maps (250 and one more;
    both compared after scaling each answer to [0, 1] again, so that only the range test judges the
    scaling), and the flat class's maps (zeros, no NaN)."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)

    small_model = _grader_saliency_model(fixture["conv_kernel"], fixture["conv_bias"], fixture["dense_kernel"],
                                         fixture["dense_bias"])
    shape = fixture["photos"].shape[1:4]                                                  # (2, 224, 224)
    answers = {name: _answer(outputs, case, shape) for case, name in enumerate(CASE_NAMES)}
    in_range = all(answers[name] is not None and np.all(np.abs(answers[name].min(axis=(1, 2))) < RANGE_TOLERANCE)
                   and np.all(np.abs(answers[name].max(axis=(1, 2)) - 1) < RANGE_TOLERANCE) for name in CASE_NAMES[:3])

    def right(name):
        case = CASE_NAMES.index(name)
        if answers[name] is None:
            return False
        expected = saliency_map_reference(small_model, fixture["photos"][case], int(fixture["classes"][case]))
        return bool(np.allclose(min_max_scaled(answers[name]), expected, atol=MAP_TOLERANCE))

    flat = answers["flat"]
    return {
        "test_saliency_map_shape_and_range": float(in_range),
        "test_saliency_map_class_score": float(right("top")),
        "test_saliency_map_other_class": float(right("husky") and right("other")),
        "test_saliency_map_flat": float(flat is not None and bool(np.allclose(flat, 0, atol=1e-6))),
    }


CHECK = Check(
    function="saliency_map",
    replaced=(),
    call="_grader_saliency_call(function, fixture, case)",
    make_fixture=make_fixture,
    judge=judge,
    largest_output=lambda fixture, case: fixture["photos"].shape[1:4],
    prelude=inspect.getsource(_grader_saliency_model) + SALIENCY_CALL_SOURCE,
)
