"""Lesson 05's references (grader/checks/filter_maximization.py) against numbers worked out by hand and
gradients computed in NumPy, and its judge on right and wrong answers. Small networks only: a few seconds."""

import keras
import numpy as np
import pytest

from grader.checks import filter_maximization as check
from grader.checks.filter_maximization import ascent_update_reference, filter_gradient, gradient_ascent_step_reference

TESTS = ["test_ascent_update", "test_gradient_ascent_step_shape_and_size", "test_gradient_ascent_step_ascends",
         "test_gradient_ascent_step_filter"]


def hand_model(second_filter):
    """(1, 3, 3, 1) -> ``features``: 2×2 valid conv, no activation, no bias, filter 0 all ones (4 maps, 2×2)."""
    model = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Conv2D(2, 2, use_bias=False, name="features")])
    kernels = np.stack([np.ones((2, 2)), second_filter], axis=-1)[:, :, None, :]   # (2, 2, 1, 2)
    model.get_layer("features").set_weights([kernels.astype(np.float32)])
    return model


def numpy_relu_conv_gradient(image, kernel, bias):
    """∇_x Σ_ij ReLU(x ⋆ w + b)_ij for one valid conv layer, one filter: the filter added at every window that is on."""
    height, width = kernel.shape[:2]
    gradient = np.zeros_like(image)                                          # (H, W, C)
    for row in range(image.shape[0] - height + 1):
        for column in range(image.shape[1] - width + 1):
            window = image[row:row + height, column:column + width]
            if np.sum(window * kernel) + bias > 0:
                gradient[row:row + height, column:column + width] += kernel
    return gradient


def test_the_update_by_hand():
    """rms([3, 4, 0, 0]) = 2.5 and rms([0, 0, -30, 40]) = 25: each row moves by η = 0.5 along g / rms(g), unclipped."""
    gradients = np.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, -30.0, 40.0]])
    updated = ascent_update_reference(np.full((2, 4), 0.5), gradients, 0.5)
    np.testing.assert_allclose(updated, [[1.1, 1.3, 0.5, 0.5], [0.5, 0.5, -0.1, 1.3]])
    spectrum = np.array([[3.0, 4.0], [0.0, 0.0]]).reshape(1, 1, 1, 2, 2)     # rank 5, one image
    np.testing.assert_allclose(ascent_update_reference(np.zeros_like(spectrum), spectrum, 0.1),
                               [[[[[0.12, 0.16], [0.0, 0.0]]]]])


def test_the_update_moves_each_image_by_the_learning_rate_and_a_zero_gradient_not_at_all():
    rng = np.random.default_rng(0)
    gradients = rng.normal(size=(3, 5, 5, 2)) * np.array([1e-4, 1.0, 1e4])[:, None, None, None]
    gradients[1] = 0
    images = rng.uniform(size=gradients.shape)
    updated = ascent_update_reference(images, gradients, 0.03)
    change = updated - images
    np.testing.assert_allclose(np.sqrt(np.mean(change[[0, 2]] ** 2, axis=(1, 2, 3))), 0.03, rtol=1e-6)
    np.testing.assert_array_equal(updated[1], images[1])
    with pytest.raises(ValueError, match="one shape"):
        ascent_update_reference(images, gradients[0], 0.03)


def test_the_step_of_the_hand_model():
    """Filter 0 (ones): each pixel's gradient counts the windows over it, [[1,2,1],[2,4,2],[1,2,1]], rms 2.
    Filter 1 ([[1, 0], [0, 0]]): 1 on the four top-left pixels, rms 2/3."""
    model = hand_model(np.array([[1.0, 0.0], [0.0, 0.0]]))
    zeros = np.zeros((1, 3, 3, 1), np.float32)
    counts = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float64)
    np.testing.assert_allclose(filter_gradient(model, "features", 0, zeros)[0, :, :, 0], counts)
    np.testing.assert_allclose(gradient_ascent_step_reference(model, "features", 0, zeros, 0.1)[0, :, :, 0],
                               0.1 * counts / 2, atol=1e-7)
    np.testing.assert_allclose(gradient_ascent_step_reference(model, "features", 1, zeros, 0.1)[0, :, :, 0],
                               [[0.15, 0.15, 0], [0.15, 0.15, 0], [0, 0, 0]], atol=1e-7)
    with pytest.raises(ValueError, match="no filter 2"):
        filter_gradient(model, "features", 2, zeros)


def test_the_gradient_of_a_relu_layer_is_numpys():
    """One 3×3 ReLU conv over two channels, random filters and biases: TensorFlow's gradient is the NumPy sum."""
    rng = np.random.default_rng(1)
    kernels = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
    biases = rng.normal(scale=0.5, size=3).astype(np.float32)
    model = keras.Sequential([keras.Input((7, 6, 2)), keras.layers.Conv2D(3, 3, activation="relu", name="conv")])
    model.get_layer("conv").set_weights([kernels, biases])
    images = rng.uniform(size=(2, 7, 6, 2)).astype(np.float32)
    for filter_index in range(3):
        gradients = filter_gradient(model, "conv", filter_index, images)
        for image, gradient in zip(images, gradients):
            expected = numpy_relu_conv_gradient(image, kernels[..., filter_index], biases[filter_index])
            np.testing.assert_allclose(gradient, expected, atol=1e-5)


def test_the_linear_network_of_the_check_punishes_the_whole_layer_and_a_row():
    """The fixture's linear network: the chosen filter w ≥ 0, the other −3w. The whole layer's gradient is −2∇a^k,
    a row's has a negative dot product with ∇a^k: both steps go downhill, on every fixture."""
    for seed in range(5):
        fixture = check.make_fixture(np.random.default_rng(seed))
        models = check._grader_tiny_models(fixture["relu_first"], fixture["relu_second"], fixture["linear_filter"],
                                           fixture["linear_index"], fixture["channels"])
        chosen, image = int(fixture["linear_index"]), fixture["linear_image"]
        gradient = filter_gradient(models["linear"], "grader_linear", chosen, image)
        other = filter_gradient(models["linear"], "grader_linear", 1 - chosen, image)
        np.testing.assert_allclose(gradient + other, -2 * gradient, rtol=1e-5)
        maps = models["linear"](image).numpy()                                # (1, 4, 4, 2)
        assert maps.shape == (1, 4, 4, 2) and np.all(maps[..., chosen] > 0)


def _reference_outputs(fixture):
    models = check._grader_tiny_models(fixture["relu_first"], fixture["relu_second"], fixture["linear_filter"],
                                       fixture["linear_index"], fixture["channels"])
    outputs = {}
    for case in range(len(check.UPDATE_SHAPES)):
        outputs[f"case_{case}"] = ascent_update_reference(
            fixture[f"update_images_{case}"], fixture[f"update_gradients_{case}"], float(fixture["update_rates"][case]))
    for step in range(len(fixture["step_networks"])):
        outputs[f"case_{len(check.UPDATE_SHAPES) + step}"] = gradient_ascent_step_reference(
            *check._step_inputs(fixture, models, step))
    return outputs


def test_the_judge_gives_the_reference_every_point_and_each_mistake_its_zeros():
    fixture = check.make_fixture(np.random.default_rng(7))
    outputs = _reference_outputs(fixture)
    assert check.judge(fixture, outputs) == dict.fromkeys(TESTS, 1.0)
    updates = len(check.UPDATE_SHAPES)
    descent = {name: (2 * fixture_image(fixture, name, updates) - value) for name, value in outputs.items()}
    assert check.judge(fixture, descent) == {"test_ascent_update": 0.0, "test_gradient_ascent_step_shape_and_size": 1.0,
                                             "test_gradient_ascent_step_ascends": 0.0,
                                             "test_gradient_ascent_step_filter": 0.0}
    assert check.judge(fixture, {}) == dict.fromkeys(TESTS, 0.0)


def test_the_check_catches_an_update_without_epsilon():
    """One image of the check's batch has a zero gradient: without ε its update is NaN, and
    test_ascent_update gets nothing (the in-kernel tests are not the only ones to see it)."""
    fixture = check.make_fixture(np.random.default_rng(11))
    outputs = _reference_outputs(fixture)
    for case in range(len(check.UPDATE_SHAPES)):
        images, gradients = fixture[f"update_images_{case}"], fixture[f"update_gradients_{case}"]
        axes = tuple(range(1, gradients.ndim))
        with np.errstate(invalid="ignore", divide="ignore"):
            rms = np.sqrt(np.mean(np.square(gradients), axis=axes, keepdims=True))
            outputs[f"case_{case}"] = images + float(fixture["update_rates"][case]) * gradients / rms
    assert np.isnan(outputs["case_1"]).any()
    assert check.judge(fixture, outputs)["test_ascent_update"] == 0.0


def test_the_check_fails_an_update_that_clips_on_every_draw():
    """The loop clips; an ascent_update that clips too (to [0, 1], or to the ImageNet section's
    (-0.99, 1)) loses test_ascent_update on every draw (with only random pixels to leave the range, it
    changed no update case in 16 of 1,000 draws)."""
    fixture = check.make_fixture(np.random.default_rng(3))
    reference = _reference_outputs(fixture)
    for low, high in [(0.0, 1.0), (-0.99, 1.0)]:
        for seed in range(300):   # the update cases of 300 draws of the fixture
            draw = check.update_cases(np.random.default_rng(seed))
            updates = [ascent_update_reference(draw[f"update_images_{case}"], draw[f"update_gradients_{case}"],
                                               float(draw["update_rates"][case]))
                       for case in range(len(check.UPDATE_SHAPES))]
            changed = [not np.allclose(np.clip(update, low, high), update, rtol=1e-5, atol=1e-7) for update in updates]
            assert any(changed), f"draw {seed}: clipping to ({low}, {high}) changes no update case"
        # And through the judge, on the check's own fixture.
        outputs = dict(reference)
        for case in range(len(check.UPDATE_SHAPES)):
            outputs[f"case_{case}"] = np.clip(reference[f"case_{case}"], low, high)
        assert check.judge(fixture, outputs)["test_ascent_update"] == 0.0, (low, high)


def fixture_image(fixture, name, updates):
    """The image case ``name`` started from (so 2·image − answer is the step taken backwards)."""
    case = int(name.split("_")[1])
    if case < updates:
        return fixture[f"update_images_{case}"]
    step = case - updates
    if fixture["step_networks"][step] == "relu":
        return fixture["relu_images"][step:step + 1]
    return fixture["linear_image"]


def test_the_fixture_is_new_each_run_and_fits_the_capture_bounds():
    first, second = (check.make_fixture(np.random.default_rng(seed)) for seed in (1, 2))
    assert not np.array_equal(first["relu_images"], second["relu_images"])
    for fixture in (first, second):
        assert fixture["step_filters"][-1] == fixture["linear_index"]
        for case in fixture["cases"]:
            largest = int(np.prod(check._largest_output(fixture, int(case))))
            if case < len(check.UPDATE_SHAPES):
                assert fixture[f"update_images_{case}"].size == largest
            else:
                assert fixture_image(fixture, f"case_{case}", len(check.UPDATE_SHAPES)).size <= largest


def _captured(fixture, update, step):
    """What the capture cell saves for ``update`` and ``step``: its prelude and calls, run here in a fresh namespace."""
    names = {"ascent_update": update}
    exec(check.CHECK.prelude, names)
    return {f"case_{case}": np.array(names["_grader_call"](names, step, fixture, int(case)), dtype=np.float64)
            for case in fixture["cases"]}


def test_the_capture_cells_calls_reach_both_functions():
    """The prelude builds the networks from the fixture's arrays and calls ascent_update for the update cases,
    gradient_ascent_step for the others; a step written without the student's update (descent) loses its tests."""
    fixture = check.make_fixture(np.random.default_rng(11))
    outputs = _captured(fixture, ascent_update_reference, gradient_ascent_step_reference)
    assert check.judge(fixture, outputs) == dict.fromkeys(TESTS, 1.0)

    def descent_step(model, layer_name, filter_index, image, learning_rate):
        return gradient_ascent_step_reference(model, layer_name, filter_index, image, -learning_rate)

    outputs = _captured(fixture, ascent_update_reference, descent_step)
    assert check.judge(fixture, outputs) == {"test_ascent_update": 1.0, "test_gradient_ascent_step_shape_and_size": 1.0,
                                             "test_gradient_ascent_step_ascends": 0.0,
                                             "test_gradient_ascent_step_filter": 0.0}
