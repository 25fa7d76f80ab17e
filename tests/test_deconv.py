"""helpers.deconv: the deconvnet, the three ReLU backward rules, lesson 05's feature map by hand.

The deconvnet takes lesson 04's exercise (max pooling with switches, unpooling) as arguments; here it gets
the grader's reference (tests/test_unpooling_reference.py tests it).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from grader.checks.zfnet_unpooling import max_pool_with_switches_reference, unpool_reference
from helpers import deconv

UNPOOLING = (max_pool_with_switches_reference, unpool_reference)   # what lesson 04 passes: its own functions


@pytest.fixture(scope="module")
def trained_model():
    from helpers.models import trained_gap_cnn

    return trained_gap_cnn(verbose=False)


@pytest.fixture(scope="module")
def digits():
    """16 test digits (16, 28, 28, 1) in [0, 1]."""
    from helpers.data import load_mnist

    _, (x_test, _) = load_mnist(verbose=False)
    return x_test[:16]


# --- lesson 05's feature map by hand ----------------------------------------------------------


def test_six_by_six_vertical_line_example():
    """The slides' 6×6 image and the vertical-line filter (rows -1 1 -1)."""
    image = np.array([[int(pixel) for pixel in row] for row in "100001 010010 001100 100010 010010 001010".split()])
    kernel = np.array([[-1, 1, -1]] * 3)
    expected = [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]
    np.testing.assert_array_equal(deconv.valid_cross_correlation(image, kernel), expected)


def test_valid_cross_correlation_matches_conv2d():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(7, 9)), rng.normal(size=(3, 2))
    expected = tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], 1, "VALID")[0, :, :, 0]
    np.testing.assert_allclose(deconv.valid_cross_correlation(image, kernel), expected, atol=1e-12)
    with pytest.raises(ValueError, match="2-D"):
        deconv.valid_cross_correlation(image[None], kernel)


# --- the deconvnet ------------------------------------------------------------------------------


def test_first_layer_projection_is_the_activation_times_its_input_gradient(trained_model, digits):
    """One conv layer down, the transposed convolution is the adjoint of the convolution.

    The kept activation a > 0 opens its own ReLU gate for both rules, so the projection
    relu(a)·(transposed filter) equals a · ∂a/∂x exactly.
    """
    for channel in (0, 5, 15):
        projection = deconv.deconvnet_projection(trained_model, digits, "conv2d", channel, *UNPOOLING)
        images = tf.constant(digits)
        with tf.GradientTape() as tape:
            tape.watch(images)
            feature_maps = trained_model.get_layer("conv2d")(images)  # (16, 28, 28, 16)
            strongest = deconv.strongest_activation(feature_maps.numpy(), channel)
            positions = np.stack([np.arange(16), strongest.rows, strongest.columns], axis=1)
            kept = tf.reduce_sum(tf.gather_nd(feature_maps[..., channel], positions))
        gradient = tape.gradient(kept, images).numpy()
        assert np.all(strongest.values > 0)
        assert np.abs(projection).max() > 0.05
        np.testing.assert_allclose(projection, strongest.values[:, None, None, None] * gradient, atol=1e-5)


@pytest.mark.parametrize("layer_name", ["conv2d_1", "conv2d_2"])
def test_deep_projection_equals_the_deconvnet_rule_gradient(trained_model, digits, layer_name):
    """Layer by layer (unpool, rectify, transposed filter) = autodiff with the deconvnet ReLU rule."""
    projection = deconv.deconvnet_projection(trained_model, digits, layer_name, 1, *UNPOOLING)
    feature_maps = deconv.layer_output(trained_model, digits, layer_name).numpy()
    values = deconv.strongest_activation(feature_maps, 1).values[:, None, None, None]
    gradient = deconv.input_gradient(trained_model, digits, 1, rule="deconvnet", layer_name=layer_name)
    backprop = deconv.input_gradient(trained_model, digits, 1, rule="backprop", layer_name=layer_name)
    assert projection.shape == (16, 28, 28, 1)
    np.testing.assert_allclose(projection, values * gradient, atol=1e-5)
    assert np.abs(projection - values * backprop).max() > 0.1  # the deconvnet is not backprop


def test_projection_errors(trained_model, digits):
    assert np.abs(deconv.deconvnet_projection(trained_model, digits[:2], "conv2d_1", 1, *UNPOOLING)).sum() > 0
    with pytest.raises(ValueError, match="not found.*conv layers"):
        deconv.deconvnet_projection(trained_model, digits, "conv9", 0, *UNPOOLING)
    with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
        deconv.deconvnet_projection(trained_model, digits, "dense", 0, *UNPOOLING)
    with pytest.raises(ValueError, match="has 16 maps"):
        deconv.deconvnet_projection(trained_model, digits, "conv2d", 16, *UNPOOLING)


def test_projection_says_which_exercise_function_returned_a_wrong_shape(trained_model, digits):
    """conv2d_3 lies above max_pooling2d_2, which pools 7×7 to 3×3: its unpooling must give back 7×7."""
    def unpool_without_remainder(pooled, switches, output_shape, pool_size=2):
        batch, height, width, channels = output_shape
        return unpool_reference(pooled, switches, (batch, height - height % pool_size,
                                                   width - width % pool_size, channels), pool_size)

    def pool_with_padding(inputs, pool_size=2):
        padded = np.pad(inputs, [(0, 0), (0, inputs.shape[1] % pool_size), (0, inputs.shape[2] % pool_size), (0, 0)])
        return max_pool_with_switches_reference(padded, pool_size)

    with pytest.raises(ValueError, match=r"unpool returned shape \(2, 6, 6, 64\).*\(2, 7, 7, 64\)"):
        deconv.deconvnet_projection(trained_model, digits[:2], "conv2d_3", 0, max_pool_with_switches_reference,
                                    unpool_without_remainder)
    with pytest.raises(ValueError, match=r"max_pool_with_switches of a \(2, 7, 7, 64\) map.*\(2, 3, 3, 64\)"):
        deconv.deconvnet_projection(trained_model, digits[:2], "conv2d_3", 0, pool_with_padding, unpool_reference)


def test_receptive_fields_of_the_gap_cnn(trained_model):
    sizes = [deconv._receptive_field(trained_model, name).size
             for name in ("conv2d", "conv2d_1", "conv2d_2", "conv2d_3")]
    assert sizes == [3, 8, 18, 38]
    assert deconv._receptive_field(trained_model, "max_pooling2d") == (4, 2, 0.5)


def test_top_patches_are_the_receptive_fields_of_the_strongest_activations(trained_model, digits):
    top = deconv.top_patches(trained_model, digits, "conv2d_1", channel=2, k=4)
    assert top.patches.shape == (4, 8, 8, 1)
    assert np.all(np.diff(top.activations) <= 0)
    feature_maps = deconv.layer_output(trained_model, digits, "conv2d_1").numpy()
    assert top.activations[0] == feature_maps[..., 2].max()
    # Map position (r, c) of conv2d_1 sees input rows 2r-3 .. 2r+4 (zeros outside the image).
    image, row, column = digits[top.image_indices[0]], top.rows[0], top.columns[0]
    padded = np.pad(image, [(8, 8), (8, 8), (0, 0)])
    np.testing.assert_array_equal(top.patches[0],
                                  padded[8 + 2 * row - 3 : 8 + 2 * row + 5, 8 + 2 * column - 3 : 8 + 2 * column + 5])


# --- backprop, deconvnet, guided backprop ----------------------------------------------------


def test_relu_rules_on_known_values():
    inputs = tf.constant([-1.0, -1.0, 2.0, 2.0])
    upstream = tf.constant([-3.0, 3.0, -3.0, 3.0])
    expected = {"backprop": [0, 0, -3, 3], "deconvnet": [0, 3, 0, 3], "guided": [0, 0, 0, 3]}
    for rule, gradient in expected.items():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = deconv.relu_with_backward_rule(rule)(inputs)
        np.testing.assert_array_equal(outputs.numpy(), [0, 0, 2, 2])
        np.testing.assert_array_equal(tape.gradient(outputs, inputs, output_gradients=upstream).numpy(), gradient)
    with pytest.raises(ValueError, match="rule must be one of"):
        deconv.relu_with_backward_rule("guided_backprop")


def one_relu_model():
    """Pixels -> ReLU (a 1×1 identity conv) -> random 3×3 conv -> flatten -> 3 scores.

    Only one ReLU, right on the pixels, so the input gradient *is* the gated signal.
    """
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer="ones", name="pixel_relu"),
            keras.layers.Conv2D(2, 3, name="mixing"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="scores"),
        ]
    )
    keras.utils.set_random_seed(3)
    for layer in model.layers[1:]:
        layer.set_weights([np.random.normal(size=weight.shape) for weight in layer.get_weights()])
    model.get_layer("pixel_relu").set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    return model


def test_guided_backprop_zeroes_what_either_rule_zeroes():
    model = one_relu_model()
    images = np.random.default_rng(4).normal(size=(5, 6, 6, 1)).astype(np.float32)
    gradients = {rule: deconv.input_gradient(model, images, 1, rule=rule) for rule in deconv.RELU_BACKWARD_RULES}
    backprop, deconvnet, guided = gradients["backprop"], gradients["deconvnet"], gradients["guided"]
    assert np.all(guided[(backprop == 0) | (deconvnet == 0)] == 0)
    np.testing.assert_array_equal(guided[guided != 0], backprop[guided != 0])
    np.testing.assert_array_equal(guided[guided != 0], deconvnet[guided != 0])
    assert (backprop != 0).sum() > (guided != 0).sum() > 0
    assert (deconvnet != 0).sum() > (guided != 0).sum()
    assert np.all(deconvnet >= 0) and np.all(guided >= 0) and np.any(backprop < 0)


def test_three_rules_differ_on_the_trained_model(trained_model, digits):
    gradients = {rule: deconv.input_gradient(trained_model, digits[:4], 7, rule=rule)
                 for rule in deconv.RELU_BACKWARD_RULES}
    for first, second in [("backprop", "deconvnet"), ("backprop", "guided"), ("deconvnet", "guided")]:
        difference = np.abs(gradients[first] - gradients[second]).max()
        assert difference > 0.01 * np.abs(gradients[first]).max(), (first, second)


def test_class_scores_are_the_logits(trained_model, digits):
    logits = deconv.layer_output(trained_model, digits).numpy()  # (16, 10)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), trained_model.predict(digits, verbose=0), atol=1e-5)
