"""Lesson 04 (``04_zfnet_unpooling``): ``max_pool_with_switches(inputs, pool_size)`` max-pools a
batch of NHWC maps and records the switches, ``unpool(pooled, switches, output_shape, pool_size)``
puts every value back at its switch, zeros elsewhere (ZFNet's deconvnet).

The reference (:func:`max_pool_with_switches_reference`, :func:`unpool_reference`, pure NumPy; the
hidden tests reach them through :mod:`grader.reference`), the fixture (random maps of several
batch and channel sizes, a 1×1 batch with planted ties, odd sides), the code the capture cell runs
for each case, and the judge of the five graded tests.

Conventions (the students' docstrings say the same): a switch is the row-major index
``row * pool_size + column`` of the maximum inside its window, ``0 .. pool_size² - 1``; on ties the
first maximum in row-major order (what ``np.argmax`` picks); rows and columns that do not fill a
whole window are dropped by pooling ('valid', as ``keras.layers.MaxPooling2D``) and come back as
zeros from unpooling.
"""

from __future__ import annotations

import numpy as np

from grader.checks.capture import Check

ASSIGNMENT = "04_zfnet_unpooling"
# What the hidden tests call through grader.reference. The hidden tests' inputs are fixed; the
# independent check draws new ones, so the table keeps whole answers.
REFERENCES = {"max_pool_with_switches_reference": None, "unpool_reference": None}


# ---------------------------------------------------------------- reference

def _pooled_size(height: int, width: int, pool_size: int) -> tuple[int, int]:
    """(H // pool_size, W // pool_size); ValueError when no whole window fits."""
    if pool_size < 1 or height // pool_size == 0 or width // pool_size == 0:
        raise ValueError(f"cannot pool a {height}×{width} map with {pool_size}×{pool_size} windows")
    return height // pool_size, width // pool_size


def max_pool_with_switches_reference(inputs: np.ndarray, pool_size: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of ``inputs`` (batch, H, W, C) with ``pool_size`` windows and stride, and its switches.

    Returns ``pooled`` (batch, H // pool_size, W // pool_size, C), the dtype of ``inputs``, and
    ``switches`` (int64, same shape): the row-major index ``row * pool_size + column`` of each
    maximum inside its window, the first one on ties. The last rows/columns that fill no whole
    window are dropped.
    """
    inputs = np.asarray(inputs)
    if inputs.ndim != 4:
        raise ValueError(f"inputs must have shape (batch, height, width, channels), got {inputs.shape}")
    batch, height, width, channels = inputs.shape
    pooled_height, pooled_width = _pooled_size(height, width, pool_size)
    cropped = inputs[:, : pooled_height * pool_size, : pooled_width * pool_size, :]
    windows = cropped.reshape(batch, pooled_height, pool_size, pooled_width, pool_size, channels)
    windows = windows.transpose(0, 1, 3, 5, 2, 4)  # (batch, h, w, C, pool, pool)
    windows = windows.reshape(batch, pooled_height, pooled_width, channels, pool_size * pool_size)  # row-major
    return windows.max(axis=-1), windows.argmax(axis=-1).astype(np.int64)  # argmax: the first maximum


def unpool_reference(pooled: np.ndarray, switches: np.ndarray, output_shape: tuple[int, ...] | np.ndarray,
                     pool_size: int = 2) -> np.ndarray:
    """Every value of ``pooled`` (batch, h, w, C) put back at its switch in a map of ``output_shape``.

    ``switches``: (batch, h, w, C) integers in ``0 .. pool_size² - 1`` (row-major in the window);
    ``output_shape``: (batch, H, W, C) with ``H // pool_size == h`` and ``W // pool_size == w``.
    Returns an array of ``output_shape`` and the dtype of ``pooled``: zeros except at the switches,
    and zeros in the rows/columns pooling dropped.
    """
    pooled, switches = np.asarray(pooled), np.asarray(switches)
    output_shape = tuple(int(size) for size in output_shape)
    if pooled.ndim != 4 or switches.shape != pooled.shape or len(output_shape) != 4:
        raise ValueError(f"pooled {pooled.shape} and switches {switches.shape} must be the same (batch, h, w, C), "
                         f"output_shape {output_shape} (batch, H, W, C)")
    batch, pooled_height, pooled_width, channels = pooled.shape
    if (output_shape[0], output_shape[3]) != (batch, channels) or \
            _pooled_size(output_shape[1], output_shape[2], pool_size) != (pooled_height, pooled_width):
        raise ValueError(f"a map of shape {output_shape} pooled {pool_size}×{pool_size} does not give {pooled.shape}")
    if switches.size and (switches.min() < 0 or switches.max() >= pool_size * pool_size):
        raise ValueError(f"switches must lie in 0..{pool_size * pool_size - 1}")
    windows = np.zeros(pooled.shape + (pool_size * pool_size,), dtype=pooled.dtype)  # (batch, h, w, C, pool²)
    np.put_along_axis(windows, switches[..., np.newaxis].astype(np.int64), pooled[..., np.newaxis], axis=-1)
    windows = windows.reshape(batch, pooled_height, pooled_width, channels, pool_size, pool_size)
    windows = windows.transpose(0, 1, 4, 2, 5, 3)  # (batch, h, pool, w, pool, C)
    unpooled = np.zeros(output_shape, dtype=pooled.dtype)
    unpooled[:, : pooled_height * pool_size, : pooled_width * pool_size, :] = windows.reshape(
        batch, pooled_height * pool_size, pooled_width * pool_size, channels)
    return unpooled


# ---------------------------------------------------------------- fixture and judge

# The kinds of case, each judged by one graded test (besides the slide examples' own visible tests):
# "single" one image, one channel, distinct values (like the slides' 4×4); "batch" several images and
# channels; "ties" one map of small integers, most of them 0 as after a ReLU; "odd" sides that are no
# multiple of the window (2×2 and 3×3 windows).
KIND_TESTS = {
    "single": {"pool": "test_pool_slide_example", "unpool": "test_unpool_slide_example"},
    "batch": {"pool": "test_batch_and_channels", "unpool": "test_batch_and_channels"},
    "ties": {"pool": "test_ties"},
    "odd": {"pool": "test_odd_sizes", "unpool": "test_odd_sizes"},
}
TEST_IDS = ("test_pool_slide_example", "test_unpool_slide_example", "test_batch_and_channels", "test_ties",
            "test_odd_sizes")

UNPOOLING_CALL_SOURCE = '''
def _grader_call(names, function, fixture, case):
    """Pooling cases: max_pool_with_switches, pooled and switches stacked; unpooling cases: the notebook's unpool."""
    import numpy
    pool_size = int(fixture["pool_sizes"][case])
    if str(fixture["functions"][case]) == "pool":
        pooled, switches = function(fixture["inputs_%d" % case].copy(), pool_size=pool_size)
        return numpy.stack([numpy.asarray(pooled, dtype=numpy.float64), numpy.asarray(switches, dtype=numpy.float64)])
    shape = tuple(int(size) for size in fixture["shape_%d" % case])
    return names["unpool"](fixture["pooled_%d" % case].copy(), fixture["switches_%d" % case].copy(), shape,
                           pool_size=pool_size)
'''


def _distinct_maps(rng, shape):
    """Signed random values of ``shape``, all different (a shuffled grid), float32."""
    count = int(np.prod(shape))
    return ((rng.permutation(count) - count / 2) / count * 4).reshape(shape).astype(np.float32)


def _shape(rng, kind, pool_size):
    """A random (batch, H, W, C) for a case of ``kind``."""
    if kind == "single":
        return (1, 2 * int(rng.integers(2, 4)), 2 * int(rng.integers(2, 4)), 1)
    if kind == "batch":
        return (int(rng.integers(2, 5)), 2 * int(rng.integers(2, 6)), 2 * int(rng.integers(2, 6)),
                int(rng.integers(2, 6)))
    if kind == "ties":
        return (1, 2 * int(rng.integers(4, 7)), 2 * int(rng.integers(4, 7)), 1)
    # odd: every side leaves a remainder of 1 .. pool_size - 1 rows/columns
    return (1, pool_size * int(rng.integers(2, 4)) + int(rng.integers(1, pool_size)),
            pool_size * int(rng.integers(2, 4)) + int(rng.integers(1, pool_size)), 1)


def make_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fourteen cases: pooling and unpooling of single maps, batches with channels, maps with ties
    (pooling only) and odd sides (2×2 and 3×3 windows). Unpooling gets random signed values and random
    switches, as a signal coming down the deconvnet."""
    plan = [("single", "pool", 2), ("single", "pool", 2), ("single", "unpool", 2), ("single", "unpool", 2),
            ("batch", "pool", 2), ("batch", "pool", 2), ("batch", "unpool", 2), ("batch", "unpool", 2),
            ("ties", "pool", 2), ("ties", "pool", 2),
            ("odd", "pool", 2), ("odd", "pool", 3), ("odd", "unpool", 2), ("odd", "unpool", 3)]
    fixture = {"kinds": np.array([kind for kind, _, _ in plan]),
               "functions": np.array([function for _, function, _ in plan]),
               "pool_sizes": np.array([pool_size for _, _, pool_size in plan]),
               "cases": np.arange(len(plan))}
    for case, (kind, function, pool_size) in enumerate(plan):
        shape = _shape(rng, kind, pool_size)
        if function == "pool":
            if kind == "ties":   # small integers, mostly 0 as after a ReLU: whole windows of zeros, tied maxima
                fixture[f"inputs_{case}"] = np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float32)
            else:
                fixture[f"inputs_{case}"] = _distinct_maps(rng, shape)
        else:
            pooled_shape = (shape[0], shape[1] // pool_size, shape[2] // pool_size, shape[3])
            fixture[f"pooled_{case}"] = rng.normal(size=pooled_shape).astype(np.float32)
            fixture[f"switches_{case}"] = rng.integers(0, pool_size * pool_size, size=pooled_shape)
            fixture[f"shape_{case}"] = np.array(shape)
    return fixture


def _case_right(fixture, case, answer):
    """Whether ``answer`` (float64, or None when missing) is the reference's for case ``case``."""
    if answer is None or not np.all(np.isfinite(answer)):
        return False
    pool_size = int(fixture["pool_sizes"][case])
    if str(fixture["functions"][case]) == "pool":
        pooled, switches = max_pool_with_switches_reference(fixture[f"inputs_{case}"], pool_size)
        return answer.shape == (2,) + pooled.shape and np.array_equal(answer[1], switches) and \
            bool(np.allclose(answer[0], pooled, rtol=0, atol=1e-6))
    expected = unpool_reference(fixture[f"pooled_{case}"], fixture[f"switches_{case}"], fixture[f"shape_{case}"],
                                pool_size)
    return answer.shape == expected.shape and bool(np.allclose(answer, expected, rtol=0, atol=1e-6))


def judge(fixture: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """The fraction of points of each graded test: 1 when every case it judges is right, else 0."""
    right = dict.fromkeys(TEST_IDS, True)
    for case in fixture["cases"]:
        test = KIND_TESTS[str(fixture["kinds"][case])][str(fixture["functions"][case])]
        right[test] &= _case_right(fixture, int(case), outputs.get(f"case_{int(case)}"))
    return {test: float(passed) for test, passed in right.items()}


def _largest_output(fixture, case):
    """Pooling: pooled and switches stacked, (2, batch, h, w, C); unpooling: the map before pooling."""
    if str(fixture["functions"][case]) == "pool":
        batch, height, width, channels = fixture[f"inputs_{case}"].shape
        pool_size = int(fixture["pool_sizes"][case])
        return (2, batch, height // pool_size, width // pool_size, channels)
    return tuple(int(size) for size in fixture[f"shape_{case}"])


CHECK = Check(
    function="max_pool_with_switches",
    replaced=(),
    call="_grader_call(names, function, fixture, case)",
    make_fixture=make_fixture,
    judge=judge,
    largest_output=_largest_output,
    prelude=UNPOOLING_CALL_SOURCE,
)
