"""The batched Grad-CAM reference, checked against tf-keras-vis, hand-made networks and its float64 variant."""

import gc
import weakref

import numpy as np
import pytest
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.scores import CategoricalScore

from grader import reference
from grader.checks.cats_dogs_gradcam import GRAD_CAM_LAYERS
from grader.checks.cats_dogs_gradcam import _grader_tiny_model as tiny_model
from helpers import images, models

LAYER = "grader_features"
LESSON_LAYER = GRAD_CAM_LAYERS[0]   # lesson 03's LAYER_NAME, top_activation: the last block's ReLU6 output


@pytest.fixture(scope="module")
def small_model():
    """The checks' tiny network with random weights: (6, 6, 3) -> 8 maps 'grader_features' (6×6) -> GAP -> 5 scores."""
    rng = np.random.default_rng(0)
    return tiny_model(rng.normal(size=(3, 3, 3, 8)), rng.normal(size=(8, 5)), rng.normal(scale=0.1, size=8))


@pytest.fixture(scope="module")
def small_batch():
    return np.random.default_rng(1).normal(size=(6, 6, 6, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def classifier():
    return models.imagenet_classifier(verbose=False)


def tf_keras_vis_grad_cam(model, batch, class_indices, layer_name):
    """tf-keras-vis Grad-CAM at the layer's resolution, each map divided by its maximum.

    ``seek_penultimate_conv_layer=False``: by default tf-keras-vis replaces a layer that is not a
    convolution (a ReLU such as ``top_activation``) by the nearest convolution before it."""
    maps = Gradcam(model, clone=False)(
        CategoricalScore(list(class_indices)), batch, penultimate_layer=layer_name,
        seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False,
    )
    maps = np.asarray(maps, dtype=np.float64)
    return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)


def test_agrees_with_tf_keras_vis_on_a_small_model(small_model, small_batch):
    class_indices = [0, 1, 2, 3, 4, 2]
    maps = reference.grad_cam(small_model, small_batch, class_indices, LAYER)
    assert maps.shape == (6, 6, 6) and maps.dtype == np.float32
    expected = tf_keras_vis_grad_cam(small_model, small_batch, class_indices, LAYER)
    np.testing.assert_allclose(maps, expected, atol=1e-4)
    assert np.all(maps >= 0) and np.all(maps <= 1)
    live = maps.max(axis=(1, 2)) > 0
    np.testing.assert_allclose(maps.max(axis=(1, 2))[live], 1.0, atol=1e-6)


def test_one_class_for_every_image_and_the_float64_variant(small_model, small_batch):
    maps = reference.grad_cam(small_model, small_batch, 3, LAYER)
    np.testing.assert_allclose(maps, reference.grad_cam(small_model, small_batch, [3] * 6, LAYER))
    precise = reference.grad_cam(small_model, small_batch, 3, LAYER, dtype=np.float64)
    assert precise.dtype == np.float64
    np.testing.assert_allclose(maps, precise, atol=1e-5)


def test_hand_computed_maps():
    """One map A = ReLU(x) (a 1×1 identity filter on channel 0), weights +1 and −1: class 0's map
    is x / max x, class 1's is zero everywhere (its gradients are negative)."""
    conv = np.zeros((3, 3, 3, 1))
    conv[1, 1, 0, 0] = 1.0
    model = tiny_model(conv, np.array([[1.0, -1.0]]))
    ramp = np.zeros((1, 6, 6, 3), np.float32)
    ramp[0, :, :, 0] = np.arange(36).reshape(6, 6)
    np.testing.assert_allclose(reference.grad_cam(model, ramp, 0, LAYER)[0], ramp[0, :, :, 0] / 35, atol=1e-6)
    np.testing.assert_array_equal(reference.grad_cam(model, ramp, 1, LAYER)[0], 0.0)


def test_agrees_with_tf_keras_vis_on_the_imagenet_classifier(classifier):
    photos = np.stack([images.sample_photo(name) for name in ("chelsea", "coffee", "astronaut")])
    batch = models.imagenet_preprocess(photos)
    class_indices = [285, 967, 285]  # the third asks for a cat in the astronaut photo
    maps = reference.grad_cam(classifier, batch, class_indices, LESSON_LAYER)
    assert maps.shape == (3, 7, 7)
    expected = tf_keras_vis_grad_cam(classifier, batch, class_indices, LESSON_LAYER)
    np.testing.assert_allclose(maps, expected, atol=1e-4)
    assert np.all(np.isfinite(maps))
    np.testing.assert_allclose(maps[:2].max(axis=(1, 2)), 1.0, atol=1e-6)


def constant_feature_model(feature_value, dense_weight):
    """The tiny network with 4 maps that are relu(feature_value) everywhere (zero filters, that bias)."""
    return tiny_model(np.zeros((3, 3, 3, 4)), np.full((4, 2), dense_weight), np.full(4, feature_value))


@pytest.mark.parametrize("feature_value, dense_weight", [(1.0, -1.0), (0.0, 1.0), (-1.0, 1.0)])
def test_all_negative_or_empty_maps_are_zero_not_nan(feature_value, dense_weight):
    model = constant_feature_model(feature_value, dense_weight)
    maps = reference.grad_cam(model, np.ones((3, 6, 6, 3), np.float32), [0, 1, 0], LAYER)
    assert maps.shape == (3, 6, 6)
    assert not np.any(np.isnan(maps))
    np.testing.assert_array_equal(maps, 0.0)


def test_positive_constant_map_is_all_ones():
    maps = reference.grad_cam(constant_feature_model(2.0, 0.5), np.ones((2, 6, 6, 3), np.float32), 1, LAYER)
    np.testing.assert_allclose(maps, 1.0, atol=1e-6)


def test_gradient_function_is_built_and_traced_once(small_model, small_batch):
    reference.grad_cam(small_model, small_batch, 0, LAYER)
    function = reference._GRAD_CAM_FUNCTIONS[small_model][LAYER]
    reference.grad_cam(small_model, small_batch[:2], [1, 2], LAYER)  # another batch size
    reference.grad_cam(small_model, small_batch[:1], 4, LAYER)
    assert reference._GRAD_CAM_FUNCTIONS[small_model][LAYER] is function
    assert function.experimental_get_tracing_count() == 1


def test_cache_entry_goes_with_the_model():
    model = constant_feature_model(1.0, 1.0)
    reference.grad_cam(model, np.ones((1, 6, 6, 3), np.float32), 0, LAYER)
    assert model in reference._GRAD_CAM_FUNCTIONS
    model_reference = weakref.ref(model)
    del model
    gc.collect()
    assert model_reference() is None  # the cache did not keep the model (and its function) alive


def test_missing_layer_lists_the_conv_layers(small_model, small_batch):
    with pytest.raises(ValueError, match="'block5_conv3' not found .* conv layers are: grader_features$"):
        reference.grad_cam(small_model, small_batch, 0, "block5_conv3")
    with pytest.raises(ValueError, match=r"\(batch, h, w, channels\); 'grader_scores' gives \(None, 5\)"):
        reference.grad_cam(small_model, small_batch, 0, "grader_scores")


@pytest.mark.parametrize("class_indices, message", [(5, "0-4"), ([0, 1], "one per image"), (1.5, "integer")])
def test_bad_class_indices(small_model, small_batch, class_indices, message):
    with pytest.raises(ValueError, match=message):
        reference.grad_cam(small_model, small_batch, class_indices, LAYER)


def test_wrong_image_shape(small_model):
    with pytest.raises(ValueError, match=r"\(n,\) \+ \(6, 6, 3\)"):
        reference.grad_cam(small_model, np.zeros((2, 28, 28, 3), np.float32), 0, LAYER)
