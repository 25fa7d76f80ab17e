"""helpers.maximize: activation maximization of filters, dense units and classes on the trained GAP-CNN.

Measured with the notebook's settings (lesson 05): the default start (noise in [0, 0.1), seed 0),
200 steps, learning rate 0.02; the numbers in the comments are what the asserts guard, with margin.

The **gain** of a maximized image is final objective / starting objective
(:attr:`helpers.maximize.Maximization.gains`), the starting objective taken on the first
image of the ascent with objective > 0: the start page itself for every filter and dense unit
here, a step or two into the ascent for a class whose logit is negative on the start page.
The tests keep it as a guard that the ascent went far; lesson 05 reports the **increase**
instead, final − start (:attr:`helpers.maximize.Maximization.increases`).
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from grader.checks.filter_maximization import ascent_update_reference
from helpers import deconv, maximize

# The helpers compute gradients; the step, lesson 05's exercise, comes from the caller: here its reference.
ascend = functools.partial(maximize.maximize_activation, update=ascent_update_reference)

NEAR_ZERO = 0.05  # a pixel "without ink"
GAIN = 10  # the acceptance: every maximized image excites its target ≥ 10× more than its start


@pytest.fixture(scope="module")
def trained_model():
    from helpers.models import trained_gap_cnn

    return trained_gap_cnn(verbose=False)


@pytest.fixture(scope="module")
def mnist():
    from helpers.data import load_mnist

    return load_mnist(verbose=False)


@pytest.fixture(scope="module")
def dense_model(trained_model, mnist):
    """GAP-CNN + hidden dense layer as the notebook builds it: seed 42, conv filters frozen, 3 epochs (~4 s)."""
    from helpers.seeding import set_seed

    (x_train, y_train), (x_test, y_test) = mnist
    set_seed(42)
    model = maximize.build_gap_cnn_with_dense(conv_weights_from=trained_model)
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.9
    return model


def diagonal(matrix):
    """Entry [b, b] of a (batch, targets) array: image b's score on its own target."""
    return np.asarray(matrix)[np.arange(len(matrix)), np.arange(len(matrix))]


def check_gains(result, minimum=GAIN):
    """Every target switched on, its starting objective > 0 and its gain ≥ ``minimum``."""
    assert np.all(result.switch_on_steps >= 0), result.switch_on_steps
    assert np.all(result.switch_on_scores > 0), result.switch_on_scores
    assert np.all(result.gains >= minimum), result.gains
    np.testing.assert_allclose(result.gains, result.final_scores / result.switch_on_scores)


# --- objectives ---------------------------------------------------------------------------


def test_objectives_pick_one_target_per_image():
    values = np.arange(2 * 3 * 3 * 4, dtype=np.float32).reshape(2, 3, 3, 4)  # (batch, h, w, C)
    expected = [values[0, :, :, 1].sum(), values[1, :, :, 3].sum()]  # a^k = Σ_i Σ_j a_ij^k
    np.testing.assert_array_equal(maximize.filter_objective([1, 3])(tf.constant(values)), expected)
    logits = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(maximize.class_objective([2, 0])(logits), [3.0, 4.0])
    np.testing.assert_array_equal(maximize.unit_objective(1)(logits), [2.0, 5.0])
    with pytest.raises(ValueError, match="rank 4"):
        maximize.filter_objective(0)(logits)
    with pytest.raises(ValueError, match="only 3"):
        maximize.unit_objective([0, 7])(logits)


# --- the ascent itself ----------------------------------------------------------------------


def test_batched_ascent_is_repeatable_and_treats_images_independently(trained_model):
    """Same seed, same images; image b of a batch comes out as if optimized alone."""
    objective = maximize.filter_objective(range(4))
    first = ascend(trained_model, objective, "conv2d_1", steps=20, progress=False)
    again = ascend(trained_model, objective, "conv2d_1", steps=20, progress=False)
    np.testing.assert_array_equal(first.images, again.images)
    alone = ascend(
        trained_model, maximize.filter_objective(2), "conv2d_1", start_images=first.start_images[2:3],
        steps=20, progress=False,
    )
    np.testing.assert_allclose(alone.images[0], first.images[2], atol=1e-5)
    assert first.score_history.shape == (20, 4)
    assert first.images.min() >= 0 and first.images.max() <= 1


def test_one_step_by_hand(trained_model):
    """One step is x + lr · g / rms(g), clipped to [0, 1], with g the gradient of a^k."""
    start = maximize.noise_images(1, seed=3)
    images = tf.constant(start)
    with tf.GradientTape() as tape:
        tape.watch(images)
        score = tf.reduce_sum(deconv.layer_output(trained_model, images, "conv2d_1")[..., 5])
    gradient = tape.gradient(score, images).numpy()
    expected = np.clip(start + 0.02 * gradient / np.sqrt(np.mean(gradient**2)), 0, 1)
    result = ascend(
        trained_model, maximize.filter_objective(5), "conv2d_1", start_images=start, steps=1, progress=False
    )
    np.testing.assert_allclose(result.images, expected, atol=1e-5)
    np.testing.assert_allclose(result.score_history[0], score.numpy(), rtol=1e-5)


def test_the_step_is_the_callers_update(trained_model):
    """No update, no ascent: the helper holds no step of its own; a wrong shape or a NaN stops it with a sentence."""
    objective, start = maximize.filter_objective(5), maximize.noise_images(1, seed=3)
    with pytest.raises(TypeError, match="update"):
        maximize.maximize_activation(trained_model, objective, "conv2d_1", start_images=start, steps=1)
    with pytest.raises(ValueError, match=r"shape \(1, 28, 28, 1\), got \(28, 28, 1\)"):
        maximize.maximize_activation(trained_model, objective, "conv2d_1", start_images=start, steps=1,
                                     update=lambda images, gradients, rate: images[0])
    with pytest.raises(ValueError, match="NaN"):
        maximize.maximize_activation(trained_model, objective, "conv2d_1", start_images=start, steps=1,
                                     update=lambda images, gradients, rate: images / 0 * 0)
    descended = maximize.maximize_activation(trained_model, objective, "conv2d_1", start_images=start, steps=5,
                                             update=lambda images, gradients, rate: images - rate * gradients)
    assert descended.final_scores[0] < descended.start_scores[0]   # the caller's step is the one taken


def test_ascent_rejects_mismatched_targets_and_bad_options(trained_model):
    with pytest.raises(ValueError, match="3 targets but there are 2 images"):
        ascend(
            trained_model, maximize.class_objective([0, 1, 2]), start_images=np.zeros((2, 28, 28, 1)), progress=False
        )
    with pytest.raises(ValueError, match="parameterization must be one of"):
        ascend(trained_model, maximize.class_objective(0), parameterization="fft", progress=False)


def test_gain_counts_from_the_first_image_that_switches_the_target_on(trained_model):
    """Classes 1 and 7 have negative logits on the start page: their start is a later image of the ascent."""
    result = ascend(trained_model, maximize.class_objective([0, 1, 7]), steps=10, progress=False)
    assert result.start_scores[0] > 0 and np.all(result.start_scores[1:] < 0)
    assert result.switch_on_steps[0] == 0 and np.all(result.switch_on_steps[1:] > 0)
    np.testing.assert_array_equal(result.switch_on_images[0], result.start_images[0])
    for index, step in enumerate(result.switch_on_steps):  # the score history says when each switched on
        assert result.score_history[step, index] > 0 and np.all(result.score_history[:step, index] <= 0)
    logits = deconv.layer_output(trained_model, result.switch_on_images).numpy()
    np.testing.assert_allclose(result.switch_on_scores, logits[np.arange(3), [0, 1, 7]], rtol=1e-5)
    assert np.all(result.switch_on_scores > 0)


def test_a_target_that_never_switches_on_has_no_gain(trained_model):
    """With a huge ink penalty a class can stay negative: its gain is NaN, not a ratio of negatives."""
    result = ascend(
        trained_model, maximize.class_objective(3), steps=5, l1=100.0, progress=False
    )
    assert result.switch_on_steps[0] == -1 and np.isnan(result.gains[0])


# --- the targets the notebook shows: every one gains ≥ 10× ------------------------------------


def test_fourteen_filters_gain_tenfold(trained_model, mnist):
    """conv2d_1 (the lecture's second conv layer): every filter ≥ 10× its start (measured 12.6-60×).

    All 14 are on at the start page; the maximized images also beat the strongest of 1,000
    real test digits (measured ≥ 2.1×).
    """
    _, (x_test, _) = mnist
    result = ascend(trained_model, maximize.filter_objective(range(14)), "conv2d_1",
                                          progress=False)
    real = deconv.layer_output(trained_model, x_test, "conv2d_1").numpy().sum(axis=(1, 2))[:, :14]  # (1000, 14)
    np.testing.assert_array_equal(result.switch_on_steps, 0)
    check_gains(result)
    assert np.all(result.final_scores >= 1.5 * real.max(axis=0))


def test_first_layer_filters_gain_at_least_fivefold(trained_model):
    """conv2d (not shown in the notebook): ≥ 5× (measured ≥ 6.9×); one filter likes dark pixels,
    so a blank start already excites it."""
    result = ascend(trained_model, maximize.filter_objective(range(14)), "conv2d", progress=False)
    check_gains(result, minimum=5)
    assert np.median(result.gains) >= 10


def test_dense_units_gain_tenfold_and_beat_every_real_digit(dense_model, mnist):
    """First 9 units of the hidden dense layer (after its ReLU): every one is on at the start
    page (0.09-0.81) and gains ≥ 10× (measured 31-80×), ending above its strongest response to
    1,000 real digits (measured ≥ 1.3×)."""
    _, (x_test, _) = mnist
    result = ascend(dense_model, maximize.unit_objective(range(9)), "dense", progress=False)
    real = deconv.layer_output(dense_model, x_test, "dense").numpy()[:, :9]  # (1000, 9)
    np.testing.assert_array_equal(result.switch_on_steps, 0)
    check_gains(result)
    assert np.all(result.final_scores > real.max(axis=0))


def test_no_dense_unit_is_dead(dense_model, mnist):
    """The positive-mean initialization keeps every hidden ReLU unit alive for real digits."""
    _, (x_test, _) = mnist
    assert np.all(deconv.layer_output(dense_model, x_test, "dense").numpy().max(axis=0) > 0)


def test_class_images_gain_tenfold_and_fool_the_network(trained_model, mnist):
    """Without the prior every class gains ≥ 10× (measured 18-70×) and its logit rises by ≥ 10
    (odds × e^10, measured ≥ 12); each image beats every real digit of its class and is
    classified as its class with probability ≥ 0.99."""
    _, (x_test, y_test) = mnist
    result = ascend(trained_model, maximize.class_objective(range(10)), progress=False)
    check_gains(result)
    assert np.all(result.final_scores - result.start_scores >= 10)
    real_logits = deconv.layer_output(trained_model, x_test).numpy()  # (1000, 10)
    best_real = [real_logits[y_test == label, label].max() for label in range(10)]
    assert np.all(result.final_scores > best_real)
    probabilities = diagonal(tf.nn.softmax(deconv.layer_output(trained_model, result.images)).numpy())
    assert np.all(probabilities >= 0.99)


def test_l1_prior_leaves_most_pixels_without_ink(trained_model):
    """x* = argmax(y^i − λ Σ|x_ij|), λ = 0.1: ≥ 80% of pixels below 0.05 in every class image.

    Measured 87-95% with the prior against 45-77% without it: with pixels clipped to [0, 1]
    the plain ascent already pushes pixels with a negative gradient to 0, so the prior's
    effect shows as ≥ 10 points more empty pixels per class and less than half the ink.
    The class scores with the prior still gain ≥ 10× (measured 18-240×).
    """
    objective = maximize.class_objective(range(10))
    plain = ascend(trained_model, objective, progress=False)
    sparse = ascend(trained_model, objective, l1=0.1, progress=False)
    plain_empty = np.mean(plain.images < NEAR_ZERO, axis=(1, 2, 3))  # (10,)
    sparse_empty = np.mean(sparse.images < NEAR_ZERO, axis=(1, 2, 3))
    assert np.all(sparse_empty >= 0.8), sparse_empty
    assert np.all(sparse_empty >= plain_empty + 0.1), (plain_empty, sparse_empty)
    assert plain_empty.mean() <= 0.75
    assert sparse.images.mean() <= 0.5 * plain.images.mean()
    check_gains(sparse)
    winners = deconv.layer_output(trained_model, sparse.images).numpy().argmax(axis=1)
    np.testing.assert_array_equal(winners, np.arange(10))  # still read as their class


# --- functional models, other sizes, the Fourier parameterization ------------------------------


def small_functional_net():
    """A functional conv net with a residual add and global pooling, random weights, logits out."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="small_net")


def test_functional_models_are_cut_at_the_named_layer():
    model = small_functional_net()
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    added = maximize._output_function(model, "add")(images)
    expected = keras.Model(model.inputs[0], model.get_layer("add").output)(images)
    np.testing.assert_allclose(added, expected, atol=1e-6)
    np.testing.assert_allclose(maximize._output_function(model)(images), model(images), atol=1e-6)
    with pytest.raises(ValueError, match="not found"):
        maximize._output_function(model, "conv_z")


def test_with_input_size_keeps_the_weights():
    """The same net at 16×16: same weights, and away from the borders its feature maps equal
    the 32×32 net's on a constant image."""
    model = small_functional_net()
    smaller = maximize.with_input_size(model, 16)
    assert smaller.input_shape == (None, 16, 16, 3) and smaller.output_shape == (None, 4)
    for original, copy in zip(model.weights, smaller.weights):
        np.testing.assert_array_equal(original.numpy(), copy.numpy())
    constant = np.full((1, 16, 16, 3), 0.3, np.float32)
    constant_big = np.full((1, 32, 32, 3), 0.3, np.float32)
    inner = keras.Model(model.inputs[0], model.get_layer("add").output)(constant_big)[0, 8:24, 8:24]
    inner_small = keras.Model(smaller.inputs[0], smaller.get_layer("add").output)(constant)[0, 2:14, 2:14]
    np.testing.assert_allclose(inner_small, inner[2:14, 2:14], atol=1e-5)  # away from the borders


def test_fourier_parameterization_starts_at_the_start_image_and_climbs():
    model = small_functional_net()
    start = maximize.noise_images(2, (32, 32, 3), seed=1, low=-0.1, high=0.1)
    objective = maximize.class_objective([0, 3])
    result = ascend(
        model, objective, start_images=start, steps=30, learning_rate=0.01, clip=(-1, 1), jitter=2,
        parameterization="fourier", progress=False,
    )
    zero_steps = ascend(
        model, objective, start_images=start, steps=0, clip=(-1, 1), parameterization="fourier", progress=False
    )
    np.testing.assert_allclose(zero_steps.images, start, atol=1e-5)
    assert result.images.min() >= -1 and result.images.max() <= 1
    assert np.all(result.final_scores > result.start_scores)
    assert np.all(np.isfinite(result.gains))


def test_increases_are_final_minus_start_and_mean_the_same_for_a_negative_start(trained_model):
    """Issue 22: the sound measure is the rise of the score; the ratio blows up near a zero start."""
    result = ascend(trained_model, maximize.class_objective([0, 1, 7]), steps=10)
    np.testing.assert_allclose(result.increases, result.final_scores - result.start_scores)
    assert np.all(result.start_scores[1:] < 0) and np.all(result.increases > 0)
    logits = deconv.layer_output(trained_model, result.images).numpy()[np.arange(3), [0, 1, 7]]
    start = deconv.layer_output(trained_model, result.start_images).numpy()[np.arange(3), [0, 1, 7]]
    np.testing.assert_allclose(result.increases, logits - start, rtol=1e-4, atol=1e-4)


def test_the_ascent_prints_nothing_unless_asked(trained_model, capsys):
    """No progress bar by default (a notebook stores none); progress=True shows a plain-text one."""
    ascend(trained_model, maximize.filter_objective(0), "conv2d_1", steps=3)
    assert capsys.readouterr().out == ""
    ascend(trained_model, maximize.filter_objective(0), "conv2d_1", steps=3, progress=True)
    assert "gradient ascent" in capsys.readouterr().out
