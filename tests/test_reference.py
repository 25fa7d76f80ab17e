import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from grader import reference
from helpers.models import build_gap_cnn


def test_constant_features_with_weights_one_over_k_give_ones():
    cam = reference.class_activation_map(np.ones((3, 3, 128)), np.full(128, 1 / 128))
    assert cam.shape == (28, 28)
    np.testing.assert_allclose(cam, 1.0, atol=1e-9)


def test_single_feature_map_is_upsampled_and_scaled_by_its_weight():
    features = np.zeros((3, 3, 4))
    features[1, 1, 2] = 1.0
    weights = np.array([5.0, 5.0, -2.0, 5.0])
    cam = reference.class_activation_map(features, weights)
    expected = -2.0 * scipy.ndimage.zoom(features[:, :, 2], 28 / 3, order=2)
    np.testing.assert_allclose(cam, expected, atol=1e-12)
    assert cam.min() < -1.9  # the centre votes against the class


def test_upsampling_and_weighted_sum_commute():
    rng = np.random.default_rng(0)
    features, weights = rng.random((3, 3, 16)), rng.normal(size=16)
    cam = reference.class_activation_map(features, weights)
    np.testing.assert_allclose(cam, scipy.ndimage.zoom(features @ weights, 28 / 3, order=2), atol=1e-10)


def test_show_cam_reference_uses_the_predicted_class():
    rng = np.random.default_rng(1)
    features, gap_weights = rng.random((2, 3, 3, 8)), rng.normal(size=(8, 10))
    results = np.eye(10)[[4, 9]]
    np.testing.assert_allclose(
        reference.show_cam_reference(1, features, results, gap_weights),
        reference.class_activation_map(features[1], gap_weights[:, 9]),
    )


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="class_weights"):
        reference.class_activation_map(np.ones((3, 3, 8)), np.ones(7))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cam_equals_grad_cam_on_the_last_conv_layer_up_to_a_positive_factor(seed):
    """For GAP + dense, Grad-CAM's weights are w_k^c / Z, so Grad-CAM = ReLU(CAM) / Z."""
    tf.keras.utils.set_random_seed(seed)
    model = build_gap_cnn()
    images = np.random.default_rng(seed).random((3, 28, 28, 1)).astype(np.float32)
    last_conv, dense = model.get_layer("conv2d_3"), model.get_layer("dense")
    feature_model = tf.keras.Model(model.inputs, last_conv.output)
    kernel, bias = dense.get_weights()

    features = tf.convert_to_tensor(feature_model(images))          # (3, 3, 3, 128)
    classes = np.array([seed, (seed + 3) % 10, 9])
    with tf.GradientTape() as tape:
        tape.watch(features)
        scores = tf.reduce_mean(features, axis=(1, 2)) @ kernel + bias  # class scores before the softmax
        chosen = tf.gather(scores, classes, axis=1, batch_dims=1)
    gradients = tape.gradient(chosen, features).numpy()             # (3, 3, 3, 128)
    alphas = gradients.mean(axis=(1, 2))                             # (3, 128)
    grad_cam = np.maximum(np.einsum("nhwk,nk->nhw", features.numpy(), alphas), 0)

    for index, class_index in enumerate(classes):
        cam = reference.class_activation_map(features[index].numpy(), kernel[:, class_index], output_size=(3, 3))
        factor = 1 / 9  # Z = 3 × 3 positions
        np.testing.assert_allclose(grad_cam[index], factor * np.maximum(cam, 0), rtol=1e-4, atol=1e-7)
