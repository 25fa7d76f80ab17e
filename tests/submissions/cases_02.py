"""Build 02_imagenet_saliency submissions from the student notebook: right and wrong ``saliency_map``s.

Each body replaces the stub inside ``saliency_map(model, photos, class_index)`` and must leave the maps
in ``maps`` (the function's last line returns them). ``EXPECTED`` gives each submission's points per
graded test, in the order of ``TEST_IDS``: shape and range (1), the class's score (2), another class
(2), a flat map (1).
"""

from submissions import build

NOTEBOOK_NAME = "02_imagenet_saliency"
TEST_IDS = ["test_saliency_map_shape_and_range", "test_saliency_map_class_score", "test_saliency_map_other_class",
            "test_saliency_map_flat"]

CORRECT_BODIES = {
    # A Variable (watched without tape.watch), tf.gather, NumPy after the tape, a division only where max > min.
    "correct_variable_numpy": """
images = tf.Variable(imagenet_preprocess(photos))
with tf.GradientTape() as tape:
    scores = tf.gather(model(images, training=False), class_index, axis=1)
gradients = tape.gradient(scores, images).numpy()
grayscale = np.abs(gradients).sum(axis=3)
low = grayscale.min(axis=(1, 2), keepdims=True)
span = grayscale.max(axis=(1, 2), keepdims=True) - low
maps = np.divide(grayscale - low, span, out=np.zeros_like(grayscale), where=span > 0)
""",
    # The gradient with respect to the raw pixels (the preprocessing written out inside the tape: the factor
    # 1/128 goes with the scaling), the mean over the channels (Σ/3: the same after scaling).
    "correct_raw_pixels_mean": """
pixels = tf.constant(photos, dtype=tf.float32)
with tf.GradientTape() as tape:
    tape.watch(pixels)
    chosen = model((pixels - 127.0) / 128.0, training=False)[:, class_index]
grads = tape.gradient(chosen, pixels)
grayscale = tf.reduce_mean(tf.abs(grads), axis=-1)
grayscale -= tf.reduce_min(grayscale, axis=[1, 2], keepdims=True)
maps = (grayscale / (tf.reduce_max(grayscale, axis=[1, 2], keepdims=True) + EPSILON)).numpy()
""",
}


def _body(preprocess="imagenet_preprocess(photos)", score="logits[:, class_index]",
          reduction="tf.reduce_sum(tf.abs(gradients), axis=-1)", axes="(1, 2)", epsilon=" + EPSILON"):
    """The solution's steps with one of them replaced."""
    return f"""
inputs = tf.convert_to_tensor({preprocess}, dtype=tf.float32)
with tf.GradientTape() as tape:
    tape.watch(inputs)
    logits = model(inputs, training=False)
    score = {score}
gradients = tape.gradient(score, inputs)
grayscale = {reduction}
low = tf.reduce_min(grayscale, axis={axes}, keepdims=True)
high = tf.reduce_max(grayscale, axis={axes}, keepdims=True)
maps = ((grayscale - low) / (high - low{epsilon})).numpy()
"""


WRONG_BODIES = {
    # The lab's cross-entropy of the one-hot target, where the lesson says to take the logit.
    "loss_instead_of_logit": _body(score="keras.losses.categorical_crossentropy("
                                         "tf.one_hot([class_index] * len(photos), logits.shape[-1]), logits, "
                                         "from_logits=True)"),
    "top_prediction": _body(score="tf.reduce_max(logits, axis=1)"),
    "class_251_unshifted": _body(score="logits[:, CLASS_INDEX]"),
    "no_absolute_value": _body(reduction="tf.reduce_sum(gradients, axis=-1)"),
    "maximum_over_channels": _body(reduction="tf.reduce_max(tf.abs(gradients), axis=-1)"),
    "divided_by_255": _body(preprocess="photos / 255.0"),
    "caffe_preprocessing": _body(preprocess="keras.applications.imagenet_utils.preprocess_input("
                                            "photos.astype(np.float32), mode='caffe')"),
    "scaled_over_the_batch": _body(axes="None"),
    "no_epsilon": _body(epsilon=""),
}

# Points per test (TEST_IDS order) of each submission.
EXPECTED = {
    "reference": [1, 2, 2, 1],
    "untouched": [0, 0, 0, 0],
    **{name: [1, 2, 2, 1] for name in CORRECT_BODIES},
    "loss_instead_of_logit": [1, 0, 0, 0],      # the husky's loss; zeros on the hand-made network where p_0 = 1
    "top_prediction": [1, 2, 0, 0],             # right where the class is the top one; the flat class is not
    "class_251_unshifted": [1, 0, 0, 0],        # another class; an error on the two-class hand-made network
    "no_absolute_value": [1, 0, 0, 1],
    "maximum_over_channels": [1, 0, 0, 1],
    "divided_by_255": [1, 0, 0, 1],             # the gradient at another point: wrong where the network is not linear
    "caffe_preprocessing": [1, 0, 0, 1],
    "scaled_over_the_batch": [0, 2, 2, 1],      # right maps up to scale: only the range test fails
    "no_epsilon": [1, 2, 2, 0],                 # NaN on a flat map only
}

FULL_POINTS = EXPECTED["reference"]
# The right answers written differently and the mistakes (the names every cases_NN module gives them).
EXPECTED_POINTS = {name: points for name, points in EXPECTED.items() if name not in ("reference", "untouched")}


def with_saliency_map(body):
    """The student notebook of 02 with ``body`` in place of saliency_map's stub."""
    return build.with_function_body(build.load_student_notebook(NOTEBOOK_NAME), "saliency_map", body)


with_answer = with_saliency_map   # the name every cases_NN module gives its builder (benchmarks/bench_class.py)


def _hostile(code, body):
    """``body`` as saliency_map, with ``code`` run in a new cell just before the graded tests."""
    return build.with_code_cell_before_tests(with_saliency_map(body), code)


def _tampered(body):
    """A wrong answer whose author rewrote the graded test it fails and deleted another one."""
    return build.with_tests_tampered(with_saliency_map(body), 3, 0, "saliency_map is right.")


# Hostile submissions: name -> (builder, the honest submission whose per-test points it must get,
# words its reason must contain). The tricks fool nbgrader's in-kernel tests; the independent
# check is not fooled. (What the sandbox contains, reading the reference or writing outside the
# submission's folder, does not depend on the exercise: tests/test_autograde_03.py tries it.)
HOSTILE = {
    "allclose_patched": (lambda: _hostile(
        "np.allclose = lambda *args, **kwargs: True\nnp.testing.assert_allclose = lambda *args, **kwargs: None",
        WRONG_BODIES["no_absolute_value"]), "no_absolute_value",
        "passed in the notebook but not the independent check"),
    "tampered_tests": (lambda: _tampered(WRONG_BODIES["no_epsilon"]), "no_epsilon", "test_saliency_map_flat"),
}
