"""The batched Grad-CAM reference, checked against tf-keras-vis and the course's per-image loop."""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.scores import CategoricalScore

from grader import reference
from helpers import images, models


@pytest.fixture(scope="module")
def small_model():
    """A random conv net: (32, 32, 3) -> conv 8 -> conv 16 'last_conv' (8×8) -> GAP -> 5 logits."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="first_conv")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="small")


@pytest.fixture(scope="module")
def small_batch():
    return np.random.default_rng(1).normal(size=(6, 32, 32, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def classifier():
    return models.imagenet_classifier(verbose=False)


def tf_keras_vis_grad_cam(model, batch, class_indices, layer_name):
    """tf-keras-vis Grad-CAM at the layer's resolution, each map divided by its maximum."""
    maps = Gradcam(model, clone=False)(
        CategoricalScore(list(class_indices)), batch, penultimate_layer=layer_name,
        expand_cam=False, normalize_cam=False,
    )
    maps = np.asarray(maps, dtype=np.float64)
    return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)


def course_get_cam(model, processed_image, predicted_label, layer_name):
    """The course's get_CAM (SEEDS.md section 3) for one image (1, H, W, C), with its per-channel loop."""
    model_grad = keras.Model(model.input, [model.get_layer(layer_name).output, model.output])
    with tf.GradientTape() as tape:
        conv_output_values, predictions = model_grad(processed_image)
        loss = predictions[:, predicted_label]
    grads_values = tape.gradient(loss, conv_output_values)
    grads_values = np.mean(grads_values.numpy(), axis=(0, 1, 2))
    conv_output_values = np.squeeze(conv_output_values.numpy(), axis=0)
    for channel in range(conv_output_values.shape[-1]):
        conv_output_values[:, :, channel] *= grads_values[channel]
    heatmap = np.maximum(np.mean(conv_output_values, axis=-1), 0)
    return heatmap / heatmap.max()


def test_agrees_with_tf_keras_vis_on_a_small_model(small_model, small_batch):
    class_indices = [0, 1, 2, 3, 4, 2]
    maps = reference.grad_cam(small_model, small_batch, class_indices, "last_conv")
    assert maps.shape == (6, 8, 8) and maps.dtype == np.float32
    expected = tf_keras_vis_grad_cam(small_model, small_batch, class_indices, "last_conv")
    np.testing.assert_allclose(maps, expected, atol=1e-4)
    assert np.all(maps >= 0) and np.all(maps <= 1)
    live = maps.max(axis=(1, 2)) > 0
    np.testing.assert_allclose(maps.max(axis=(1, 2))[live], 1.0, atol=1e-6)


def test_agrees_with_the_course_loop(small_model, small_batch):
    maps = reference.grad_cam(small_model, small_batch, 3, "first_conv")  # one class for every image
    for index in range(len(small_batch)):
        expected = course_get_cam(small_model, small_batch[index:index + 1], 3, "first_conv")
        np.testing.assert_allclose(maps[index], expected, atol=1e-5)


def test_agrees_with_tf_keras_vis_on_the_imagenet_classifier(classifier):
    photos = np.stack([images.sample_photo(name) for name in ("chelsea", "coffee", "astronaut")])
    batch = models.imagenet_preprocess(photos)
    class_indices = [285, 967, 285]  # the third asks for a cat in the astronaut photo
    maps = reference.grad_cam(classifier, batch, class_indices, "top_conv")
    assert maps.shape == (3, 7, 7)
    expected = tf_keras_vis_grad_cam(classifier, batch, class_indices, "top_conv")
    np.testing.assert_allclose(maps, expected, atol=1e-4)
    assert np.all(np.isfinite(maps))
    np.testing.assert_allclose(maps[:2].max(axis=(1, 2)), 1.0, atol=1e-6)


def constant_feature_model(feature_value, dense_weight):
    """(8, 8, 3) -> 1×1 conv 'features' = relu(feature_value) everywhere (4 maps) -> GAP -> 2 logits."""
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(4, 1, activation="relu", name="features")(inputs)
    outputs = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights([np.zeros((1, 1, 3, 4)), np.full(4, feature_value)])
    model.get_layer("logits").set_weights([np.full((4, 2), dense_weight), np.zeros(2)])
    return model


@pytest.mark.parametrize("feature_value, dense_weight", [(1.0, -1.0), (0.0, 1.0), (-1.0, 1.0)])
def test_all_negative_or_empty_maps_are_zero_not_nan(feature_value, dense_weight):
    model = constant_feature_model(feature_value, dense_weight)
    maps = reference.grad_cam(model, np.ones((3, 8, 8, 3), np.float32), [0, 1, 0], "features")
    assert maps.shape == (3, 8, 8)
    assert not np.any(np.isnan(maps))
    np.testing.assert_array_equal(maps, 0.0)


def test_positive_constant_map_is_all_ones():
    maps = reference.grad_cam(constant_feature_model(2.0, 0.5), np.ones((2, 8, 8, 3), np.float32), 1, "features")
    np.testing.assert_allclose(maps, 1.0, atol=1e-6)


def test_gradient_function_is_built_and_traced_once(small_model, small_batch):
    reference.grad_cam(small_model, small_batch, 0, "last_conv")
    function = reference._GRAD_CAM_FUNCTIONS[small_model]["last_conv"]
    reference.grad_cam(small_model, small_batch[:2], [1, 2], "last_conv")  # another batch size
    reference.grad_cam(small_model, small_batch[:1], 4, "last_conv")
    assert reference._GRAD_CAM_FUNCTIONS[small_model]["last_conv"] is function
    assert function.experimental_get_tracing_count() == 1


def test_cache_entry_goes_with_the_model():
    model = constant_feature_model(1.0, 1.0)
    reference.grad_cam(model, np.ones((1, 8, 8, 3), np.float32), 0, "features")
    assert model in reference._GRAD_CAM_FUNCTIONS
    model_reference = weakref.ref(model)
    del model
    gc.collect()
    assert model_reference() is None  # the cache did not keep the model (and its function) alive


def test_missing_layer_lists_the_conv_layers(small_model, small_batch):
    with pytest.raises(ValueError, match="'block5_conv3' not found .* conv layers are: first_conv, last_conv"):
        reference.grad_cam(small_model, small_batch, 0, "block5_conv3")
    with pytest.raises(ValueError, match=r"\(batch, h, w, channels\); 'logits' gives \(None, 5\)"):
        reference.grad_cam(small_model, small_batch, 0, "logits")


@pytest.mark.parametrize("class_indices, message", [(5, "0-4"), ([0, 1], "one per image"), (1.5, "integer")])
def test_bad_class_indices(small_model, small_batch, class_indices, message):
    with pytest.raises(ValueError, match=message):
        reference.grad_cam(small_model, small_batch, class_indices, "last_conv")


def test_wrong_image_shape(small_model):
    with pytest.raises(ValueError, match=r"\(n,\) \+ \(32, 32, 3\)"):
        reference.grad_cam(small_model, np.zeros((2, 28, 28, 3), np.float32), 0, "last_conv")
