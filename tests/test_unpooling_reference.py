"""Lesson 04's reference (grader.checks.zfnet_unpooling): max pooling with switches and unpooling,
against the slides' 4×4 example, numbers worked out by hand, Keras' MaxPooling2D and the gradient
of max pooling; and its check: the reference passes, each classic mistake fails its test."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from grader import checks, reference
from grader.checks import zfnet_unpooling
from grader.checks.zfnet_unpooling import max_pool_with_switches_reference as pool
from grader.checks.zfnet_unpooling import unpool_reference as unpool

SLIDE_INPUT = np.array([[0.8, 0.6, 0.5, 0.3],
                        [0.3, 0.4, 0.9, 0.8],
                        [0.2, 0.7, 0.8, 0.4],
                        [0.5, 0.4, 0.6, 0.5]], dtype=np.float32)
SLIDE_UNPOOLED = np.float32([[0.8, 0, 0, 0], [0, 0, 0.9, 0], [0, 0.7, 0.8, 0], [0, 0, 0, 0]])


def distinct_maps(shape, seed):
    """Random values without ties (a permutation), so every window has one maximum."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape) + 0.01).astype(np.float32)


def test_slide_example_exactly():
    """The lecture's 4×4 example: pooled [[0.8, 0.9], [0.7, 0.8]], switches [[0, 2], [1, 0]], unpooled as drawn."""
    pooled, switches = pool(SLIDE_INPUT[None, :, :, None])
    np.testing.assert_array_equal(pooled[0, :, :, 0], np.float32([[0.8, 0.9], [0.7, 0.8]]))
    np.testing.assert_array_equal(switches[0, :, :, 0], [[0, 2], [1, 0]])
    assert pooled.dtype == np.float32 and np.issubdtype(switches.dtype, np.integer)
    np.testing.assert_array_equal(unpool(pooled, switches, (1, 4, 4, 1))[0, :, :, 0], SLIDE_UNPOOLED)


def test_ties_give_the_first_maximum_in_row_major_order():
    """By hand: a window of zeros -> 0; 0.9 at top right and bottom left -> 1; 5 at bottom left and right -> 2."""
    maps = np.float32([[0, 0, 0.5, 0.9],
                       [0, 0, 0.9, 0.1],
                       [1, 2, 3, 3],
                       [5, 5, 3, 3]])[None, :, :, None]
    pooled, switches = pool(maps)
    np.testing.assert_array_equal(pooled[0, :, :, 0], np.float32([[0, 0.9], [5, 3]]))
    np.testing.assert_array_equal(switches[0, :, :, 0], [[0, 1], [2, 0]])
    np.testing.assert_array_equal(unpool(pooled, switches, maps.shape)[0, :, :, 0],
                                  np.float32([[0, 0, 0, 0.9], [0, 0, 0, 0], [0, 0, 3, 0], [5, 0, 0, 0]]))


def test_odd_sides_drop_the_remainder_and_unpooling_gives_it_back_as_zeros():
    """By hand: the 5×5 ramp 0..24 pooled 2×2 is [[6, 8], [16, 18]], every maximum bottom right (switch 3);
    3×3 windows on a 7×8 ramp keep rows and columns 0-5."""
    ramp = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    pooled, switches = pool(ramp)
    np.testing.assert_array_equal(pooled[0, :, :, 0], [[6, 8], [16, 18]])
    assert np.all(switches == 3)
    unpooled = unpool(pooled, switches, ramp.shape)[0, :, :, 0]
    expected = np.zeros((5, 5))
    expected[[1, 1, 3, 3], [1, 3, 1, 3]] = [6, 8, 16, 18]
    np.testing.assert_array_equal(unpooled, expected)
    ramp = np.arange(56, dtype=np.float32).reshape(1, 7, 8, 1)
    pooled, switches = pool(ramp, 3)
    np.testing.assert_array_equal(pooled[0, :, :, 0], [[18, 21], [42, 45]])   # row 2 / 5, column 2 / 5
    assert np.all(switches == 8)
    assert unpool(pooled, switches, ramp.shape, 3).shape == (1, 7, 8, 1)


@pytest.mark.parametrize("shape", [(3, 8, 8, 5), (2, 7, 9, 4), (4, 28, 28, 16)])
def test_pooling_matches_keras_and_unpooling_keeps_exactly_the_maxima(shape):
    """Batched, multi-channel, odd sizes: pooled == MaxPooling2D; unpool∘pool keeps only the maxima."""
    maps = distinct_maps(shape, seed=sum(shape))
    pooled, switches = pool(maps)
    np.testing.assert_array_equal(pooled, np.asarray(keras.layers.MaxPooling2D(2)(maps)))
    unpooled = unpool(pooled, switches, maps.shape)
    assert unpooled.shape == maps.shape
    kept = unpooled != 0
    assert kept.sum() == pooled.size  # one value per window
    np.testing.assert_array_equal(unpooled[kept], maps[kept])  # each at its own place


def test_each_image_and_channel_is_pooled_on_its_own():
    """Pooling the batch equals pooling every (image, channel) slice alone."""
    maps = distinct_maps((3, 6, 4, 5), seed=2)
    pooled, switches = pool(maps)
    for image in range(3):
        for channel in range(5):
            alone_pooled, alone_switches = pool(maps[image : image + 1, :, :, channel : channel + 1])
            np.testing.assert_array_equal(pooled[image, :, :, channel], alone_pooled[0, :, :, 0])
            np.testing.assert_array_equal(switches[image, :, :, channel], alone_switches[0, :, :, 0])


def test_unpooling_is_the_gradient_of_max_pooling():
    """Routing a signal through the switches is what backprop through MaxPooling2D does (3×3 windows too)."""
    for pool_size, shape in ((2, (2, 9, 10, 3)), (3, (2, 8, 7, 2))):
        maps = tf.constant(distinct_maps(shape, seed=1))
        upstream = tf.random.stateless_normal((2, shape[1] // pool_size, shape[2] // pool_size, shape[3]), seed=(1, 2))
        with tf.GradientTape() as tape:
            tape.watch(maps)
            total = tf.reduce_sum(keras.layers.MaxPooling2D(pool_size)(maps) * upstream)
        _, switches = pool(maps.numpy(), pool_size)
        np.testing.assert_array_equal(unpool(upstream.numpy(), switches, shape, pool_size),
                                      tape.gradient(total, maps).numpy())


def test_reference_rejects_what_it_cannot_pool_or_unpool():
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        pool(SLIDE_INPUT)
    with pytest.raises(ValueError, match="cannot pool a 1×4 map"):
        pool(np.ones((1, 1, 4, 1)))
    pooled, switches = pool(np.ones((1, 4, 4, 1)))
    with pytest.raises(ValueError, match="does not give"):
        unpool(pooled, switches, (1, 8, 8, 1))
    with pytest.raises(ValueError, match="switches must lie in 0..3"):
        unpool(pooled, switches + 4, (1, 4, 4, 1))


def test_grader_reference_exposes_both_functions():
    assert reference.max_pool_with_switches_reference is pool and reference.unpool_reference is unpool


# ---------------------------------------------------------------- the independent check

def _answers(fixture, pool_function=pool, unpool_function=unpool):
    """The capture's outputs for ``fixture`` computed by the given functions (in this process)."""
    outputs = {}
    for case in fixture["cases"]:
        pool_size = int(fixture["pool_sizes"][case])
        if str(fixture["functions"][case]) == "pool":
            pooled, switches = pool_function(fixture[f"inputs_{case}"], pool_size)
            outputs[f"case_{case}"] = np.stack([np.asarray(pooled, np.float64), np.asarray(switches, np.float64)])
        else:
            outputs[f"case_{case}"] = np.asarray(unpool_function(
                fixture[f"pooled_{case}"], fixture[f"switches_{case}"], tuple(fixture[f"shape_{case}"]), pool_size),
                np.float64)
    return outputs


def _last_maximum(inputs, pool_size=2):
    """Ties go to the last maximum in row-major order (a loop with >=)."""
    cropped = inputs[:, : inputs.shape[1] // pool_size * pool_size, : inputs.shape[2] // pool_size * pool_size]
    flipped_pooled, flipped_switches = pool(cropped[:, ::-1, ::-1, :], pool_size)
    return flipped_pooled[:, ::-1, ::-1], (pool_size * pool_size - 1 - flipped_switches)[:, ::-1, ::-1]


def _top_left(pooled, switches, output_shape, pool_size=2):
    return unpool(pooled, np.zeros_like(switches), output_shape, pool_size)


def _channels_mixed(inputs, pool_size=2):
    """Reshapes (batch, H, W, C) as if it were (batch, C, H, W)."""
    batch, height, width, channels = inputs.shape
    pooled, switches = pool(inputs.reshape(batch, channels, height, width).transpose(0, 2, 3, 1), pool_size)
    return pooled, switches


def _no_remainder(pooled, switches, output_shape, pool_size=2):
    batch, height, width, channels = output_shape
    return unpool(pooled, switches, (batch, height // pool_size * pool_size, width // pool_size * pool_size,
                                     channels), pool_size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_gives_full_marks_to_the_reference_and_catches_each_mistake(seed):
    fixture = zfnet_unpooling.make_fixture(np.random.default_rng(seed))
    assert sorted(set(fixture["kinds"])) == ["batch", "odd", "single", "ties"]
    assert all(fixture[f"inputs_{case}"].shape[1] % int(fixture["pool_sizes"][case])
               for case in fixture["cases"] if fixture["kinds"][case] == "odd" and fixture["functions"][case] == "pool")
    full = dict.fromkeys(zfnet_unpooling.TEST_IDS, 1.0)
    assert zfnet_unpooling.judge(fixture, _answers(fixture)) == full
    mistakes = {
        "last maximum": (dict(pool_function=_last_maximum), ["test_ties"]),
        "top left": (dict(unpool_function=_top_left),
                     ["test_unpool_slide_example", "test_batch_and_channels", "test_odd_sizes"]),
        "channels mixed": (dict(pool_function=_channels_mixed), ["test_batch_and_channels"]),
        "no remainder": (dict(unpool_function=_no_remainder), ["test_odd_sizes"]),
    }
    for name, (functions, failed) in mistakes.items():
        expected = {**full, **dict.fromkeys(failed, 0.0)}
        assert zfnet_unpooling.judge(fixture, _answers(fixture, **functions)) == expected, name
    assert set(zfnet_unpooling.judge(fixture, {}).values()) == {0.0}


def test_check_reads_what_a_capture_cell_saves(tmp_path):
    path = tmp_path / "fixture.npz"
    fixture = checks.write_fixture("04_zfnet_unpooling", path, seed=3)
    np.savez(tmp_path / "outputs.npz", **_answers(fixture))
    assert set(checks.judge("04_zfnet_unpooling", path, tmp_path / "outputs.npz").values()) == {1.0}
    compile(checks.capture_cell_source(checks.CHECKS["04_zfnet_unpooling"], path, tmp_path / "out.npz"), "cell", "exec")
