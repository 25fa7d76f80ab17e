"""Build 04_zfnet_unpooling submissions from the student notebook: right and wrong
``max_pool_with_switches`` and ``unpool``.

A submission is a pair of bodies: one replaces the stub inside
``max_pool_with_switches(inputs, pool_size)`` and must leave ``pooled`` and ``switches``, the other
replaces the stub inside ``unpool(pooled, switches, output_shape, pool_size)`` and must leave
``unpooled`` (each function's last line returns them). ``EXPECTED_POINTS`` gives each
submission's points per graded test, in the notebook's order (:data:`TEST_IDS`).
"""

from submissions import build

NOTEBOOK_NAME = "04_zfnet_unpooling"
TEST_IDS = ["test_pool_slide_example", "test_unpool_slide_example", "test_batch_and_channels", "test_ties",
            "test_odd_sizes"]
FULL_POINTS = [1, 1, 2, 1, 1]

# Right, vectorized NumPy (the solution's way), used beside each wrong half below.
_POOL = """
inputs = np.asarray(inputs)
batch, height, width, channels = inputs.shape
h, w = height // pool_size, width // pool_size
windows = inputs[:, : h * pool_size, : w * pool_size, :].reshape(batch, h, pool_size, w, pool_size, channels)
windows = windows.transpose(0, 1, 3, 5, 2, 4).reshape(batch, h, w, channels, pool_size * pool_size)
pooled, switches = windows.max(axis=-1), windows.argmax(axis=-1)
"""
_UNPOOL = """
pooled, switches = np.asarray(pooled), np.asarray(switches)
batch, h, w, channels = pooled.shape
windows = np.zeros(pooled.shape + (pool_size * pool_size,), dtype=pooled.dtype)
np.put_along_axis(windows, switches[..., np.newaxis], pooled[..., np.newaxis], axis=-1)
windows = windows.reshape(batch, h, w, channels, pool_size, pool_size).transpose(0, 1, 4, 2, 5, 3)
unpooled = np.zeros(output_shape, dtype=pooled.dtype)
unpooled[:, : h * pool_size, : w * pool_size, :] = windows.reshape(batch, h * pool_size, w * pool_size, channels)
"""

# Loops over every window, comparing with `compare` (">": the first maximum wins ties).
_POOL_LOOPS = """
inputs = np.asarray(inputs)
batch, height, width, channels = inputs.shape
pooled = np.zeros((batch, height // pool_size, width // pool_size, channels), dtype=inputs.dtype)
switches = np.zeros(pooled.shape, dtype=int)
for image in range(batch):
    for i in range(height // pool_size):
        for j in range(width // pool_size):
            for channel in range(channels):
                best, where = None, 0
                for row in range(pool_size):
                    for column in range(pool_size):
                        value = inputs[image, i * pool_size + row, j * pool_size + column, channel]
                        if best is None or value COMPARE best:
                            best, where = value, row * pool_size + column
                pooled[image, i, j, channel], switches[image, i, j, channel] = best, where
"""
_UNPOOL_LOOPS = """
pooled, switches = np.asarray(pooled), np.asarray(switches)
unpooled = np.zeros(tuple(output_shape), dtype=pooled.dtype)
batch, h, w, channels = pooled.shape
for image in range(batch):
    for i in range(h):
        for j in range(w):
            for channel in range(channels):
                row, column = divmod(int(switches[image, i, j, channel]), pool_size)
                unpooled[image, i * pool_size + row, j * pool_size + column, channel] = pooled[image, i, j, channel]
"""

CORRECT_BODIES = {
    # Plain loops over images, windows and channels; a strict > keeps the first maximum.
    "correct_loops": (_POOL_LOOPS.replace("COMPARE", ">"), _UNPOOL_LOOPS),
    # TensorFlow throughout (returns tensors): argmax over the windows, a one-hot to unpool, padding back.
    "correct_tensorflow": ("""
inputs = tf.convert_to_tensor(inputs)
_, height, width, channels = inputs.shape
h, w = height // pool_size, width // pool_size
windows = tf.reshape(inputs[:, : h * pool_size, : w * pool_size, :], (-1, h, pool_size, w, pool_size, channels))
windows = tf.reshape(tf.transpose(windows, (0, 1, 3, 5, 2, 4)), (-1, h, w, channels, pool_size * pool_size))
switches = tf.argmax(windows, axis=-1, output_type=tf.int32)
pooled = tf.reduce_max(windows, axis=-1)
""", """
pooled = tf.convert_to_tensor(pooled)
_, h, w, channels = pooled.shape
one_hot = tf.one_hot(tf.cast(switches, tf.int32), pool_size * pool_size, dtype=pooled.dtype)
windows = tf.reshape(one_hot * pooled[..., tf.newaxis], (-1, h, w, channels, pool_size, pool_size))
windows = tf.reshape(tf.transpose(windows, (0, 1, 4, 2, 5, 3)), (-1, h * pool_size, w * pool_size, channels))
unpooled = tf.pad(windows, [[0, 0], [0, output_shape[1] - h * pool_size], [0, output_shape[2] - w * pool_size], [0, 0]])
"""),
}

WRONG_BODIES = {
    # >= keeps the last maximum of a window: a window of zeros gets switch 3, not 0.
    "last_maximum_on_ties": (_POOL_LOOPS.replace("COMPARE", ">="), _UNPOOL),
    # Every value at the top left of its window, whatever its switch.
    "unpool_at_top_left": (_POOL, """
pooled = np.asarray(pooled)
batch, h, w, channels = pooled.shape
unpooled = np.zeros(output_shape, dtype=pooled.dtype)
unpooled[:, 0 : h * pool_size : pool_size, 0 : w * pool_size : pool_size, :] = pooled
"""),
    # Reshapes (batch, H, W, C) to (batch * C, H, W) without moving the channels next to the batch.
    "channels_mixed": ("""
inputs = np.asarray(inputs)
batch, height, width, channels = inputs.shape
h, w = height // pool_size, width // pool_size
maps = inputs.reshape(batch * channels, height, width)
windows = maps[:, : h * pool_size, : w * pool_size].reshape(-1, h, pool_size, w, pool_size).transpose(0, 1, 3, 2, 4)
windows = windows.reshape(-1, h, w, pool_size * pool_size)
pooled = windows.max(axis=-1).reshape(batch, h, w, channels)
switches = windows.argmax(axis=-1).reshape(batch, h, w, channels)
""", _UNPOOL),
    # 'same' pooling: the map is padded to whole windows, so a 5×5 map gives 3×3.
    "pooling_pads_odd_sizes": ("""
inputs = np.asarray(inputs)
batch, height, width, channels = inputs.shape
h, w = -(-height // pool_size), -(-width // pool_size)
padded = np.full((batch, h * pool_size, w * pool_size, channels), -np.inf, dtype=inputs.dtype)
padded[:, :height, :width, :] = inputs
windows = padded.reshape(batch, h, pool_size, w, pool_size, channels).transpose(0, 1, 3, 5, 2, 4)
windows = windows.reshape(batch, h, w, channels, pool_size * pool_size)
pooled, switches = windows.max(axis=-1), windows.argmax(axis=-1)
""", _UNPOOL),
    # Unpooling ignores output_shape: the dropped row and column are not given back.
    "unpool_without_remainder": (_POOL, _UNPOOL.replace("unpooled = np.zeros(output_shape, dtype=pooled.dtype)",
                                                        "unpooled = np.zeros((batch, h * pool_size, w * pool_size, "
                                                        "channels), dtype=pooled.dtype)")),
    # Switches counted column by column (column * pool_size + row).
    "column_major_switches": (_POOL.replace("transpose(0, 1, 3, 5, 2, 4)", "transpose(0, 1, 3, 5, 4, 2)"), _UNPOOL),
}

EXPECTED_POINTS = {
    "reference": FULL_POINTS,
    "untouched": [0, 0, 0, 0, 0],
    **{name: FULL_POINTS for name in CORRECT_BODIES},
    "last_maximum_on_ties": [1, 1, 2, 0, 1],
    "unpool_at_top_left": [1, 0, 0, 1, 0],
    "channels_mixed": [1, 1, 0, 1, 1],
    "pooling_pads_odd_sizes": [1, 1, 2, 1, 0],
    "unpool_without_remainder": [1, 1, 2, 1, 0],
    "column_major_switches": [0, 1, 0, 0, 0],
}


def with_functions(bodies):
    """The student notebook of 04 with ``bodies`` (pool body, unpool body) in place of the two stubs."""
    return build.with_answers(NOTEBOOK_NAME, ("max_pool_with_switches", "unpool"), bodies)


def _hostile(code, bodies):
    """``bodies`` as the two functions, with ``code`` run in a new cell just before the graded tests."""
    return build.with_code_cell_before_tests(with_functions(bodies), code)


def _tampered(bodies):
    """A wrong answer whose author rewrote the graded test it fails (test_ties) and deleted another."""
    return build.with_tests_tampered(with_functions(bodies), 3, 0, "Ties are right.")


STEALING_POOL = """
if "max_pool_with_switches_reference" in reference_namespace:
    reference = reference_namespace["max_pool_with_switches_reference"]
else:
    from grader.reference import max_pool_with_switches_reference as reference
pooled, switches = reference(inputs, pool_size)
"""

# Hostile submissions: name -> (builder, the honest submission whose per-test points it must get,
# words its reason must contain). The tricks fool nbgrader's in-kernel tests; the independent
# check and the sandbox are not fooled.
HOSTILE = {
    "allclose_patched": (lambda: _hostile(
        "np.allclose = lambda *args, **kwargs: True\nnp.array_equal = lambda *args, **kwargs: True\n"
        "np.testing.assert_allclose = lambda *args, **kwargs: None",
        WRONG_BODIES["unpool_at_top_left"]), "unpool_at_top_left",
        "passed in the notebook but not the independent check"),
    "tampered_tests": (lambda: _tampered(WRONG_BODIES["last_maximum_on_ties"]), "last_maximum_on_ties", "test_ties"),
    # Contained by the sandbox: the reference is not on the kernel's disk; its stub only replays.
    "steals_the_reference": (lambda: _hostile(build.steal_the_reference(NOTEBOOK_NAME),
                                              (STEALING_POOL, "unpooled = None\nraise NotImplementedError()")),
                             "untouched", "failed"),
}


with_answer = with_functions   # the name every cases_NN module gives its builder (benchmarks/bench_class.py)
