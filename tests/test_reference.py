import keras
import numpy as np
import pytest
import scipy.ndimage

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
    """For GAP + dense, Grad-CAM's weights are w_k^c / Z, so Grad-CAM = ReLU(CAM) / max ReLU(CAM).

    The GAP-CNN with its softmax removed (class scores, not probabilities) goes through
    ``reference.grad_cam``; the CAM of the same features and class weights must agree with it.
    """
    keras.utils.set_random_seed(seed)
    model = build_gap_cnn()
    dense = model.get_layer("dense")
    scores = keras.layers.Dense(10, name="scores")(model.get_layer("global_average_pooling2d").output)
    score_model = keras.Model(model.inputs, scores)
    score_model.get_layer("scores").set_weights(dense.get_weights())
    kernel = dense.get_weights()[0]
    images = np.random.default_rng(seed).random((3, 28, 28, 1)).astype(np.float32)
    features = keras.Model(model.inputs, model.get_layer("conv2d_3").output)(images).numpy()  # (3, 3, 3, 128)
    classes = np.array([seed, (seed + 3) % 10, 9])

    grad_cam = reference.grad_cam(score_model, images, classes, "conv2d_3")  # (3, 3, 3) in [0, 1]
    assert grad_cam.max() > 0  # at least one map with something positive: the comparison means something
    for index, class_index in enumerate(classes):
        cam = np.maximum(reference.class_activation_map(features[index], kernel[:, class_index], output_size=(3, 3)), 0)
        expected = cam / cam.max() if cam.max() > 0 else cam
        np.testing.assert_allclose(grad_cam[index], expected, rtol=1e-4, atol=1e-5)
