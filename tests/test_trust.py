"""helpers.trust (lesson 06) on tiny models with known answers: each test asserts real values."""

import keras
import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
from keras import layers

from helpers import trust

SIZE = 8  # tiny images: (8, 8, c)
ABSOLUTE_SUM = lambda gradients: np.abs(gradients).sum(axis=-1)   # noqa: E731  (lesson 02's map, not normalized)


def region_model():
    """A hand-made classifier of (8, 8, 1) images that looks only at the top-left 3×3 corner.

    Logit of class 0 = 2 · (sum of the corner's pixels), logit of class 1 = 0, then a softmax.
    The corner is where the evidence is: the oracle map.
    """
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    kernel = np.zeros((SIZE * SIZE, 2), dtype=np.float32)
    kernel[:, 0] = 2.0 * oracle_map().ravel()
    model.layers[-1].set_weights([kernel, np.zeros(2, dtype=np.float32)])
    return model


def oracle_map():
    """(8, 8): 1 on the top-left 3×3 corner (the only pixels region_model looks at), 0 elsewhere."""
    corner = np.zeros((SIZE, SIZE))
    corner[:3, :3] = 1.0
    return corner


def small_cnn():
    """Two convs, global average pooling and a dense layer, with every weight set to random non-zero values."""
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a"),
        layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b"),
        layers.GlobalAveragePooling2D(name="pool"),
        layers.Dense(3, name="dense"),  # logits
    ])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.0, 0.5, weight.shape).astype(np.float32) for weight in model.get_weights()])
    return model


def weights_by_layer(model):
    return {layer.name: [np.array(weight) for weight in layer.get_weights()] for layer in model.layers}


def changed_layers(before, after):
    """Names of the layers with weights all of whose arrays differ between two weights_by_layer dicts."""
    changed = set()
    for name, arrays in before.items():
        differs = [not np.array_equal(old, new) for old, new in zip(arrays, after[name])]
        assert all(differs) or not any(differs), f"{name}: only some of its weights changed"
        if arrays and all(differs):
            changed.add(name)
    return changed


# --- spearman ---------------------------------------------------------------------------------

def test_spearman_of_a_map_with_itself_is_1_and_with_its_negative_minus_1():
    saliency_map = np.random.default_rng(1).normal(size=(SIZE, SIZE))
    assert trust.spearman(saliency_map, saliency_map) == pytest.approx(1.0)
    assert trust.spearman(saliency_map, -saliency_map) == pytest.approx(-1.0)
    assert trust.spearman(saliency_map, saliency_map ** 3 + 5) == pytest.approx(1.0)  # ranks only


def test_spearman_agrees_with_scipy_with_ties_and_batched():
    rng = np.random.default_rng(2)
    maps_a, maps_b = rng.integers(0, 4, size=(2, 5, 5)), rng.integers(0, 4, size=(2, 5, 5))  # many ties
    expected = [scipy.stats.spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(maps_a, maps_b)]
    np.testing.assert_allclose(trust.spearman(maps_a, maps_b), expected)
    assert trust.spearman(maps_a[0], maps_b[0]) == pytest.approx(expected[0])


def test_spearman_of_a_constant_map_is_0_not_nan():
    assert trust.spearman(np.ones((4, 4)), np.arange(16.0).reshape(4, 4)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        trust.spearman(np.ones((4, 4)), np.ones((4, 5)))


# --- cascading randomization ------------------------------------------------------------------

def test_cascading_randomization_changes_exactly_the_named_layers_top_down():
    model = small_cnn()
    original = weights_by_layer(model)
    steps = list(trust.cascading_randomization(model, ["conv_a", "dense"]))  # given bottom first
    assert [name for name, _ in steps] == ["dense", "conv_a"]                 # randomized top first
    assert changed_layers(original, weights_by_layer(steps[0][1])) == {"dense"}
    assert changed_layers(original, weights_by_layer(steps[1][1])) == {"dense", "conv_a"}
    # Step 2 keeps step 1's random dense layer: the cascade is cumulative.
    assert changed_layers(weights_by_layer(steps[0][1]), weights_by_layer(steps[1][1])) == {"conv_a"}
    # The original model is untouched and is not one of the steps.
    assert changed_layers(original, weights_by_layer(model)) == set()
    assert all(randomized is not model for _, randomized in steps)


def test_cascading_randomization_names_the_layers_it_can_randomize():
    with pytest.raises(ValueError, match="conv_a, conv_b, dense"):
        list(trust.cascading_randomization(small_cnn(), ["pool"]))


# --- deletion and insertion ---------------------------------------------------------------------

def test_deleting_everything_gives_the_baseline_score_and_nothing_the_image_score():
    model = small_cnn()
    rng = np.random.default_rng(3)
    image, baseline = rng.random((SIZE, SIZE, 3)), rng.random((SIZE, SIZE, 3))
    scores = keras.ops.convert_to_numpy(keras.ops.softmax(model(np.stack([image, baseline]).astype(np.float32))))
    curve = trust.deletion_curve(model, image, 1, trust.random_map((SIZE, SIZE)), steps=4, baseline=baseline)
    assert curve.shape == (5,)
    np.testing.assert_allclose(curve[[0, -1]], scores[:, 1], rtol=1e-5)
    curve = trust.insertion_curve(model, image, 1, trust.random_map((SIZE, SIZE)), steps=4, baseline=baseline)
    np.testing.assert_allclose(curve[[0, -1]], scores[::-1, 1], rtol=1e-5)


def test_insertion_starts_from_the_blurred_image_by_default():
    model = small_cnn()
    image = np.random.default_rng(4).random((SIZE, SIZE, 3))
    blurred = trust.scipy.ndimage.gaussian_filter(image, sigma=(5, 5, 0))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(blurred[None].astype(np.float32))))[0, 2]
    curve = trust.insertion_curve(model, image, 2, np.ones((SIZE, SIZE)), steps=2)
    assert curve[0] == pytest.approx(expected, rel=1e-5) and curve[0] != pytest.approx(curve[-1], rel=1e-3)


def test_the_oracle_map_beats_a_random_map_on_deletion_and_insertion():
    model = region_model()
    image = np.random.default_rng(5).uniform(0.5, 1.0, size=(SIZE, SIZE, 1))
    areas = {}
    for name, saliency_map in (("oracle", oracle_map()), ("random", trust.random_map((SIZE, SIZE), seed=6))):
        deletion = trust.deletion_curve(model, image, 0, saliency_map, steps=16)
        insertion = trust.insertion_curve(model, image, 0, saliency_map, steps=16, baseline=0.0)
        areas[name] = trust.area_under_curve(deletion), trust.area_under_curve(insertion)
    # The oracle deletes the corner within the first 12 of 64 pixels (3 of 16 steps): the score falls to 0.5.
    assert areas["oracle"][0] < 0.6 and areas["oracle"][0] < areas["random"][0] - 0.1, areas
    assert areas["oracle"][1] > 0.9 and areas["oracle"][1] > areas["random"][1] + 0.1, areas


def test_maps_of_the_wrong_size_are_refused():
    with pytest.raises(ValueError, match="upsample"):
        trust.deletion_curve(small_cnn(), np.zeros((SIZE, SIZE, 3)), 0, np.zeros((2, 2)))


def test_area_under_curve():
    assert trust.area_under_curve([0.3, 0.3, 0.3]) == pytest.approx(0.3)
    assert trust.area_under_curve(np.linspace(0, 1, 11)) == pytest.approx(0.5)
    assert trust.area_under_curve([1.0, 0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.125)
    np.testing.assert_allclose(trust.area_under_curve([[0, 1], [1, 1]]), [0.5, 1.0])


# --- baselines ----------------------------------------------------------------------------------

def test_baseline_maps():
    np.testing.assert_array_equal(trust.random_map((3, 4), seed=7), trust.random_map((3, 4), seed=7))
    assert not np.array_equal(trust.random_map((3, 4), seed=7), trust.random_map((3, 4), seed=8))
    gaussian = trust.centred_gaussian_map((9, 9))
    assert gaussian[4, 4] == 1.0 and np.unravel_index(gaussian.argmin(), gaussian.shape) == (0, 0)
    np.testing.assert_allclose(gaussian, gaussian.T)
    step = np.zeros((6, 6, 3))
    step[:, 3:] = 1.0                                       # a vertical edge between columns 2 and 3
    edges = trust.sobel_edge_map(step)
    assert edges.shape == (6, 6) and edges.min() == 0.0
    assert set(np.flatnonzero(edges.sum(axis=0))) == {2, 3}


# --- localization ----------------------------------------------------------------------------

def test_share_inside():
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2] = True                                         # the top half
    inside = np.zeros((4, 4))
    inside[0, 1], inside[1, 3] = 2.0, 5.0
    assert trust.share_inside(inside, mask) == pytest.approx(1.0)
    assert trust.share_inside(np.zeros((4, 4)), mask) == 0.0
    assert trust.share_inside(np.ones((4, 4)), mask) == pytest.approx(0.5)
    np.testing.assert_allclose(trust.share_inside(np.stack([inside, np.zeros((4, 4)), inside[::-1]]), mask), [1, 0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        trust.share_inside(-inside, mask)


# --- cascading randomization by groups, in place ----------------------------------------------

def test_cascading_randomization_randomizes_groups_together_and_in_place():
    model = small_cnn()
    original = weights_by_layer(model)
    steps = []
    for step, randomized in trust.cascading_randomization(model, [["conv_a", "conv_b"], "dense"], in_place=True):
        assert randomized is model                                            # no copy: the model itself
        steps.append((step, weights_by_layer(randomized)))
    assert [step for step, _ in steps] == ["dense", ("conv_a", "conv_b")]      # by the group's top-most layer
    assert changed_layers(original, steps[0][1]) == {"dense"}
    assert changed_layers(original, steps[1][1]) == {"dense", "conv_a", "conv_b"}
    assert changed_layers(steps[0][1], steps[1][1]) == {"conv_a", "conv_b"}    # cumulative
    with pytest.raises(ValueError, match="'nowhere'"):
        list(trust.cascading_randomization(model, [["conv_a", "nowhere"]]))


# --- maps: logits, gradients, Guided Backprop, SmoothGrad --------------------------------------

def linear_model(kernel):
    """(2, 2, 1) images -> Flatten -> Dense(kernel (4, classes)), linear: the gradient of class c is kernel[:, c]."""
    model = keras.Sequential([keras.Input((2, 2, 1)), layers.Flatten(), layers.Dense(kernel.shape[1], name="dense")])
    model.layers[-1].set_weights([kernel.astype(np.float32), np.zeros(kernel.shape[1], np.float32)])
    return model


def test_logits_copy_removes_only_the_softmax():
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), layers.Conv2D(2, 3, activation="relu"),
                              layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax")])
    images = np.random.default_rng(8).random((4, SIZE, SIZE, 3)).astype(np.float32)
    logits = keras.ops.convert_to_numpy(trust.logits_copy(model)(images))
    assert not np.allclose(logits.sum(axis=1), 1.0)                           # not probabilities any more
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
                               keras.ops.convert_to_numpy(model(images)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no softmax"):
        trust.logits_copy(small_cnn())


def test_class_gradient_function_is_the_kernel_column_traced_once_and_follows_new_weights():
    kernel = np.arange(8.0).reshape(4, 2)
    model = linear_model(kernel)
    gradients = trust.class_gradient_function(model)
    images = np.random.default_rng(9).random((3, 2, 2, 1)).astype(np.float32)
    result = gradients(images, np.array([0, 1, 1], np.int32)).numpy()
    np.testing.assert_allclose(result.reshape(3, 4), kernel.T[[0, 1, 1]])
    model.layers[-1].set_weights([-kernel.astype(np.float32), np.zeros(2, np.float32)])   # changed in place
    result = gradients(images[:1], np.array([1], np.int32)).numpy()                   # another batch size
    np.testing.assert_allclose(result.reshape(1, 4), -kernel.T[[1]])
    assert gradients.experimental_get_tracing_count() == 1


def relu6_model():
    """(2,) -> identity Dense -> ReLU6 layer -> Dense with weights (1, -1): score = relu6(x0) - relu6(x1)."""
    model = keras.Sequential([keras.Input((2,)), layers.Dense(2, name="identity"),
                              layers.ReLU(max_value=6.0, name="relu6"), layers.Dense(1, name="score")])
    model.get_layer("identity").set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    model.get_layer("score").set_weights([np.array([[1.0], [-1.0]], np.float32), np.zeros(1, np.float32)])
    return model


def test_guided_relu_copy_keeps_the_outputs_and_passes_back_only_positive_signals():
    model = relu6_model()
    guided = trust.guided_relu_copy(model)
    inputs = np.array([[1.0, 2.0], [7.0, 3.0], [-1.0, 0.5]], np.float32)
    np.testing.assert_allclose(guided(inputs).numpy(), model(inputs).numpy())
    classes = np.zeros(3, np.int32)
    plain = trust.class_gradient_function(model)(inputs, classes).numpy()
    np.testing.assert_allclose(plain, [[1, -1], [0, -1], [0, -1]])           # x0 = 7 and -1 are outside (0, 6)
    guided_gradients = trust.class_gradient_function(guided)(inputs, classes).numpy()
    np.testing.assert_allclose(guided_gradients, [[1, 0], [0, 0], [0, 0]])   # the negative signal stops
    model.get_layer("score").set_weights([np.array([[2.0], [1.0]], np.float32), np.zeros(1, np.float32)])
    np.testing.assert_allclose(trust.class_gradient_function(guided)(inputs, classes).numpy(),
                               [[2, 1], [0, 1], [0, 1]])                     # the copy shares the weights


def test_guided_relu_copy_refuses_relus_inside_layers():
    with pytest.raises(ValueError, match="input_gradient"):
        trust.guided_relu_copy(small_cnn())


def test_smoothgrad_of_a_linear_model_is_its_gradient_map_and_noise_is_averaged():
    kernel = np.array([[1.0, 0.0], [-2.0, 0.0], [0.5, 0.0], [0.0, 0.0]])
    images = np.random.default_rng(10).random((2, 2, 2, 1))
    gradients = trust.class_gradient_function(linear_model(kernel))
    maps = trust.smoothgrad(gradients, images, [0, 0], num_samples=5, to_map=ABSOLUTE_SUM)
    assert maps.shape == (2, 2, 2)
    np.testing.assert_allclose(maps, np.broadcast_to(np.abs(kernel[:, 0]).reshape(2, 2), (2, 2, 2)), rtol=1e-6)
    # The gradient of sum(x²) is 2x: 0 at a black pixel, but E|2ε| = 2σ·sqrt(2/π) with noise ε ~ N(0, σ²).
    image = np.zeros((1, 2, 2, 1))
    image[0, 0, 0] = 1.0                                                      # range 1: σ = noise
    maps = trust.smoothgrad(lambda x, c: 2 * x, image, [0], num_samples=4000, noise=0.1, seed=3, to_map=ABSOLUTE_SUM)
    assert maps[0, 1, 1] == pytest.approx(2 * 0.1 * np.sqrt(2 / np.pi), rel=0.05)


# --- deletion and insertion of several maps at once ---------------------------------------------

def test_deletion_and_insertion_agree_with_the_curves_one_by_one():
    model = small_cnn()
    rng = np.random.default_rng(11)
    image = rng.random((SIZE, SIZE, 3))
    maps = np.stack([trust.random_map((SIZE, SIZE), seed=12), oracle_map(), trust.centred_gaussian_map((SIZE, SIZE))])
    deletion, insertion = trust.deletion_and_insertion(model, image, 2, maps, steps=4, batch_size=5)
    assert deletion.shape == insertion.shape == (3, 5)
    for row, saliency_map in enumerate(maps):
        expected_deletion = trust.deletion_curve(model, image, 2, saliency_map, steps=4)
        expected_insertion = trust.insertion_curve(model, image, 2, saliency_map, steps=4)
        np.testing.assert_allclose(deletion[row], expected_deletion, rtol=1e-5)
        np.testing.assert_allclose(insertion[row], expected_insertion, rtol=1e-5)
    with pytest.raises(ValueError, match="upsample"):
        trust.deletion_and_insertion(model, image, 0, np.zeros((1, 2, 2)))


# --- similarities of maps: SSIM, HOG, effective area, the verdict rule -------------------------------

def blob(centre, size=28, sigma=3.0):
    """A Gaussian blob (size, size) >= 0 centred at ``centre`` (row, column)."""
    rows, columns = np.mgrid[0:size, 0:size]
    return np.exp(-((rows - centre[0]) ** 2 + (columns - centre[1]) ** 2) / (2 * sigma ** 2))


def test_ssim_is_1_for_the_same_map_at_any_scale_and_low_for_unrelated_maps():
    saliency_map = blob((10, 12))
    assert trust.ssim(saliency_map, saliency_map) == pytest.approx(1.0)
    assert trust.ssim(saliency_map, 1e-6 * saliency_map) == pytest.approx(1.0)           # each map scaled to [0, 1]
    noise_a, noise_b = trust.random_map((2, 28, 28), seed=1)
    assert abs(trust.ssim(noise_a, noise_b)) < 0.1
    far = trust.ssim(saliency_map, blob((22, 5)))
    near = trust.ssim(saliency_map, blob((11, 12)))
    assert near > 0.8 > far, (near, far)
    np.testing.assert_allclose(trust.ssim(np.stack([saliency_map, noise_a]), np.stack([saliency_map, noise_b])),
                               [1.0, trust.ssim(noise_a, noise_b)])
    with pytest.raises(ValueError, match="non-negative"):
        trust.ssim(-saliency_map, saliency_map)


def test_hog_similarity_compares_the_edges_a_map_draws():
    vertical, horizontal = np.zeros((28, 28)), np.zeros((28, 28))
    vertical[:, 14:] = 1.0                                  # one vertical edge
    horizontal[14:, :] = 1.0                                # one horizontal edge
    assert trust.hog_similarity(vertical, vertical) == pytest.approx(1.0)
    assert trust.hog_similarity(vertical, 3.0 * vertical) == pytest.approx(1.0)
    assert trust.hog_similarity(vertical, horizontal) < 0.2
    assert trust.hog_similarity(vertical, np.ones((28, 28))) == 0.0                     # no edge: no HOG, 0 not NaN
    batch = trust.hog_similarity(np.stack([vertical, vertical]), np.stack([vertical, horizontal]))
    assert batch.shape == (2,) and batch[0] == pytest.approx(1.0) and batch[1] < 0.2
    with pytest.raises(ValueError, match="too small"):
        trust.hog_similarity(np.ones((20, 20)), np.ones((20, 20)))


def test_effective_area():
    assert trust.effective_area(np.ones((4, 4))) == pytest.approx(1.0)
    quarter = np.zeros((4, 4))
    quarter[:2, :2] = 5.0
    assert trust.effective_area(quarter) == pytest.approx(0.25)
    assert trust.effective_area(np.zeros((4, 4))) == 0.0
    np.testing.assert_allclose(trust.effective_area(np.stack([np.ones((4, 4)), quarter])), [1.0, 0.25])
    # A 3×3 map with its weakest cell at 40 % of its strongest, stretched over 28×28, covers most of the image.
    coarse = np.array([[0.4, 0.6, 0.7], [0.6, 0.9, 1.0], [0.5, 0.8, 0.9]])
    stretched = scipy.ndimage.zoom(coarse, 28 / 3, order=1)
    assert trust.effective_area(stretched) > 0.75 > trust.effective_area(blob((14, 14)))
    with pytest.raises(ValueError, match="non-negative"):
        trust.effective_area(-quarter)


@pytest.mark.parametrize("values, flat, expected", [
    ([0.1, 0.0, 0.2, 0.25], False, "passes"),
    ([0.67, -0.01, 0.26, 0.10], False, "passes"),     # 3 of 4 below 0.3
    ([0.67, 0.17, 0.43, 0.15], False, "inconclusive"),  # 2 of 4
    ([0.76, 0.41, 0.57, 0.17], False, "fails"),       # 1 of 4
    ([0.9, 0.9, 0.9, 0.9], False, "fails"),
    ([-0.2, -0.2, 0.0, 0.1], True, "inconclusive"),   # a flat trained map: whatever the measures say
])
def test_sanity_verdict(values, flat, expected):
    assert trust.sanity_verdict(values, threshold=0.3, flat=flat) == expected


def test_sanity_verdict_needs_values():
    with pytest.raises(ValueError, match="non-empty"):
        trust.sanity_verdict([])


def test_smoothgrad_averages_the_map_its_caller_makes_signed_and_absolute_from_the_same_copies():
    kernel = np.array([[1.0, 0.0], [-2.0, 0.0], [0.5, 0.0], [0.0, 0.0]])
    images = np.random.default_rng(12).random((2, 2, 2, 1))
    gradients = trust.class_gradient_function(linear_model(kernel))
    both = trust.smoothgrad(gradients, images, [0, 0], num_samples=3,
                            to_map=lambda g: np.stack([np.abs(g).sum(axis=-1), g.sum(axis=-1)], axis=1))
    assert both.shape == (2, 2, 2, 2)                                          # (n, 2 maps, h, w)
    np.testing.assert_allclose(both[:, 0], np.broadcast_to(np.abs(kernel[:, 0]).reshape(2, 2), (2, 2, 2)), rtol=1e-6)
    np.testing.assert_allclose(both[:, 1], np.broadcast_to(kernel[:, 0].reshape(2, 2), (2, 2, 2)), rtol=1e-6)
    # The map is the caller's: the mean over noisy copies of the raw gradient of sum(x²), 2x, is 2x (noise averages).
    image = np.zeros((1, 2, 2, 1))
    image[0, 0, 0] = 1.0
    signed = trust.smoothgrad(lambda x, c: 2 * x, image, [0], num_samples=4000, noise=0.1, seed=3, to_map=lambda g: g)
    assert signed.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(signed[0, :, :, 0], [[2.0, 0.0], [0.0, 0.0]], atol=0.02)
