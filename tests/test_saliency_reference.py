"""Lesson 02's reference saliency map and its independent check, against computations by hand and in
NumPy, and the judge against every common mistake on several random fixtures (fast: no ImageNet network)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from grader.checks import imagenet_saliency as saliency
from helpers.models import imagenet_preprocess

TESTS = ["test_saliency_map_shape_and_range", "test_saliency_map_class_score", "test_saliency_map_other_class",
         "test_saliency_map_flat"]


def linear_model(kernel):
    """(224, 224, 3) -> Flatten -> Dense(kernel (150528, classes)), no bias: ∂z_c/∂x is kernel[:, c] as an image."""
    model = keras.Sequential([keras.Input((224, 224, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(kernel.shape[1], use_bias=False)])
    model.layers[-1].set_weights([kernel.astype(np.float32)])
    return model


def test_reference_of_a_linear_model_is_the_absolute_sum_of_its_weights_by_hand():
    """Left half: weights (1, −1, 1), Σ|w| = 3; right half (2, 0, 0), Σ|w| = 2: the map is 1 left, 0 right
    (the maximum over channels, or the signed sum, would give the reverse)."""
    weights = np.zeros((224, 224, 3, 2))
    weights[:, :112, :, 0] = [1, -1, 1]
    weights[:, 112:, :, 0] = [2, 0, 0]
    weights[:, :, :, 1] = 0.5                                        # class 1: every weight 0.5, a flat map
    photos = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3)).astype(np.uint8)
    model = linear_model(weights.reshape(-1, 2))
    maps = saliency.saliency_map_reference(model, photos, 0)
    assert maps.shape == (2, 224, 224) and maps.dtype == np.float64
    np.testing.assert_allclose(maps[:, :, :112], 1.0, atol=1e-6)
    np.testing.assert_allclose(maps[:, :, 112:], 0.0, atol=1e-6)
    flat = saliency.saliency_map_reference(model, photos, 1)        # Σ|w| = 1.5 everywhere: zeros, not NaN
    assert np.all(np.isfinite(flat)) and np.all(flat == 0)


def test_reference_takes_the_gradient_at_the_preprocessed_photo():
    """z_0 = ½ Σ x² has gradient x: the map is Σ_k |pixel_k − 127| / 128, scaled (black and white high, gray 0)."""
    inputs = keras.Input((224, 224, 3))
    half_energy = keras.layers.Lambda(lambda x: 0.5 * keras.ops.sum(x ** 2, axis=(1, 2, 3))[:, None])(inputs)
    model = keras.Model(inputs, half_energy)
    photo = np.zeros((1, 224, 224, 3), np.uint8)
    photo[:, :, 75:149] = 127
    photo[:, :, 149:] = 255
    maps = saliency.saliency_map_reference(model, photo, 0)[0]
    np.testing.assert_allclose(maps[:, :75], 127 / 128, atol=1e-6)   # |−127/128| · 3 over a maximum of 3
    np.testing.assert_allclose(maps[:, 75:149], 0.0, atol=1e-6)
    np.testing.assert_allclose(maps[:, 149:], 1.0, atol=1e-6)


def test_reference_matches_the_chain_rule_in_numpy_on_the_checks_small_network():
    fixture = saliency.make_fixture(np.random.default_rng(1))
    model = saliency._grader_saliency_model(fixture["conv_kernel"], fixture["conv_bias"], fixture["dense_kernel"],
                                            fixture["dense_bias"])
    photos = fixture["photos"][0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(imagenet_preprocess(photos))),
                               saliency.small_network_logits(fixture, photos), atol=1e-4)
    for class_index in fixture["classes"][:3]:
        expected = saliency.min_max_scaled(saliency.small_network_saliency(fixture, photos, int(class_index)))
        reference = saliency.saliency_map_reference(model, photos, int(class_index))
        np.testing.assert_allclose(reference, expected, atol=1e-4)


def test_fixture_top_class_is_predicted_and_the_flat_class_has_a_zero_gradient():
    for seed in range(5):
        fixture = saliency.make_fixture(np.random.default_rng(seed))
        top, husky, other, flat = (int(c) for c in fixture["classes"])
        assert husky == 250 and len({top, husky, other, flat, 251}) == 5
        photos = fixture["photos"].reshape(-1, 224, 224, 3)
        logits = saliency.small_network_logits(fixture, photos)
        assert np.all(logits.argmax(axis=1) == top)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        assert np.all(probabilities[:, top] < 0.995), "the loss's gradient must not equal the logit's"
        assert not saliency.small_network_saliency(fixture, fixture["photos"][3], flat).any()


def test_min_max_scaled_gives_each_map_its_own_range_and_zeros_for_a_flat_map():
    maps = np.array([[[1.0, 3.0], [2.0, 5.0]], [[7.0, 7.0], [7.0, 7.0]]])
    np.testing.assert_allclose(saliency.min_max_scaled(maps), [[[0, 0.5], [0.25, 1]], [[0, 0], [0, 0]]], atol=1e-9)


# ---------------------------------------------------------------- the judge and the common mistakes

def answer(model, photos, class_index, preprocess="imagenet", target="logit", reduction="sum_abs",
           scaling="each", epsilon=saliency.SALIENCY_EPSILON):
    """A saliency map as a student might write it, with one step chosen (right by default)."""
    photos = np.asarray(photos)
    images = {"imagenet": lambda: imagenet_preprocess(photos), "divide_255": lambda: photos / 255.0,
              "none": lambda: photos.astype(np.float32),
              "caffe": lambda: keras.applications.imagenet_utils.preprocess_input(photos.astype(np.float32),
                                                                                   mode="caffe")}[preprocess]()
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = model(images, training=False)
        if target == "loss":
            one_hot = tf.one_hot([class_index] * len(photos), logits.shape[-1])
            score = keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True)
        elif target == "top":
            score = tf.reduce_max(logits, axis=1)
        elif target == "class_251":
            score = logits[:, 251]
        else:
            score = logits[:, class_index]
    gradients = tape.gradient(score, images).numpy().astype(np.float64)
    maps = {"sum_abs": lambda: np.abs(gradients).sum(-1), "sum": lambda: gradients.sum(-1),
            "abs_of_sum": lambda: np.abs(gradients.sum(-1)), "max_abs": lambda: np.abs(gradients).max(-1),
            "mean_abs": lambda: np.abs(gradients).mean(-1)}[reduction]()
    if scaling == "each":
        low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    elif scaling == "batch":
        low, high = maps.min(), maps.max()
    else:
        return maps
    with np.errstate(invalid="ignore", divide="ignore"):
        return (maps - low) / (high - low + epsilon)


# name -> (how the answer differs from the right one, the fraction of each test's points it must get)
ANSWERS = {
    "right": ({}, [1, 1, 1, 1]),
    "mean_over_channels": ({"reduction": "mean_abs", "epsilon": 1e-7}, [1, 1, 1, 1]),   # Σ/3: the same after scaling
    "loss": ({"target": "loss"}, [1, 0, 0, 0]),
    "top_prediction": ({"target": "top"}, [1, 1, 0, 0]),
    "class_251": ({"target": "class_251"}, [1, 0, 0, 0]),
    "no_absolute_value": ({"reduction": "sum"}, [1, 0, 0, 1]),
    "absolute_value_after_the_sum": ({"reduction": "abs_of_sum"}, [1, 0, 0, 1]),
    "maximum_over_channels": ({"reduction": "max_abs"}, [1, 0, 0, 1]),
    "divide_by_255": ({"preprocess": "divide_255"}, [1, 0, 0, 1]),
    "caffe_preprocessing": ({"preprocess": "caffe"}, [1, 0, 0, 1]),
    "no_preprocessing": ({"preprocess": "none"}, [1, 0, 0, 1]),
    "scaled_over_the_batch": ({"scaling": "batch"}, [0, 1, 1, 1]),
    "not_scaled": ({"scaling": "none"}, [0, 1, 1, 1]),
    "no_epsilon": ({"epsilon": 0.0}, [1, 1, 1, 0]),
}


@pytest.mark.parametrize("seed", range(4))
def test_the_judge_gives_each_common_mistake_its_expected_points(seed):
    fixture = saliency.make_fixture(np.random.default_rng(100 + seed))
    model = saliency._grader_saliency_model(fixture["conv_kernel"], fixture["conv_bias"], fixture["dense_kernel"],
                                            fixture["dense_bias"])
    got = {}
    for name, (options, _) in ANSWERS.items():
        outputs = {}
        for case in fixture["cases"]:
            value = answer(model, fixture["photos"][case], int(fixture["classes"][case]), **options)
            outputs[f"case_{case}"] = np.asarray(value, np.float64)   # NaN kept, as the capture keeps it
        scores = saliency.judge(fixture, outputs)
        got[name] = [scores[test] for test in TESTS]
    assert got == {name: [float(x) for x in expected] for name, (_, expected) in ANSWERS.items()}


def test_the_judge_gives_nothing_for_missing_answers():
    fixture = saliency.make_fixture(np.random.default_rng(7))
    assert saliency.judge(fixture, {}) == dict.fromkeys(TESTS, 0.0)
