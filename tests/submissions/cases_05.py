"""Build 05_filter_maximization submissions from the student notebook: right and wrong gradient-ascent steps.

A submission fills the two stubs: ``ascent_update(images, gradients, learning_rate)`` and
``gradient_ascent_step(model, layer_name, filter_index, image, learning_rate)``; each body must
``return`` its answer. A case is (update body, step body); a wrong case has one mistake in one of them.
"""

from submissions import build

NOTEBOOK_NAME = "05_filter_maximization"
TEST_IDS = ["test_ascent_update", "test_gradient_ascent_step_shape_and_size", "test_gradient_ascent_step_ascends",
            "test_gradient_ascent_step_filter"]
FULL_POINTS = [2, 1, 1, 2]

# ---------------------------------------------------------------- right answers, written differently

UPDATE_NUMPY = """
gradients = np.asarray(gradients, dtype=np.float64)
rms = np.sqrt((gradients ** 2).reshape(len(gradients), -1).mean(axis=1))          # (n,)
rms = rms.reshape((-1,) + (1,) * (gradients.ndim - 1))
return np.asarray(images, dtype=np.float64) + learning_rate * gradients / (rms + 1e-12)
"""

UPDATE_TF = """
gradients = tf.convert_to_tensor(gradients, dtype=tf.float32)
axes = list(range(1, len(gradients.shape)))
rms = tf.sqrt(tf.reduce_mean(tf.square(gradients), axis=axes, keepdims=True))
return (tf.convert_to_tensor(images, dtype=tf.float32) + learning_rate * gradients / (rms + 1e-12)).numpy()
"""

# The lesson's way: deconv.layer_output, a^k summed over the map.
STEP_LAYER_OUTPUT = """
image = tf.convert_to_tensor(image, dtype=tf.float32)
with tf.GradientTape() as tape:
    tape.watch(image)
    degree = tf.reduce_sum(deconv.layer_output(model, image, layer_name)[:, :, :, filter_index])
return ascent_update(image.numpy(), tape.gradient(degree, image).numpy(), learning_rate)
"""

# A truncated Keras model and the mean activation (the normalization removes the factor 1 / (h·w)).
STEP_TRUNCATED_MEAN = """
truncated = keras.Model(model.inputs, model.get_layer(layer_name).output)
image = tf.Variable(np.asarray(image, dtype=np.float32))
with tf.GradientTape() as tape:
    mean_activation = tf.reduce_mean(truncated(image, training=False)[..., filter_index])
gradient = tape.gradient(mean_activation, image)
return ascent_update(image.numpy(), gradient.numpy(), learning_rate)
"""

CORRECT_BODIES = {
    "correct_numpy_layer_output": (UPDATE_NUMPY, STEP_LAYER_OUTPUT),
    "correct_tf_truncated_mean": (UPDATE_TF, STEP_TRUNCATED_MEAN),
}

# ---------------------------------------------------------------- one mistake each

_RMS = """
gradients = np.asarray(gradients)
axes = tuple(range(1, gradients.ndim))
rms = np.sqrt(np.mean(np.square(gradients), axis=axes, keepdims=True))
"""

_STEP_WITH = """
image = tf.convert_to_tensor(image, dtype=tf.float32)
with tf.GradientTape() as tape:
    tape.watch(image)
    feature_maps = deconv.layer_output(model, image, layer_name)
    degree = {degree}
return ascent_update(image.numpy(), tape.gradient(degree, image).numpy(), learning_rate)
"""

WRONG_BODIES = {
    # ascent_update
    "descent": (_RMS + "return np.asarray(images) - learning_rate * gradients / (rms + 1e-12)\n", STEP_LAYER_OUTPUT),
    "no_normalization": ("return np.asarray(images) + learning_rate * np.asarray(gradients)\n", STEP_LAYER_OUTPUT),
    "l2_norm": ("""
gradients = np.asarray(gradients)
norm = np.sqrt(np.sum(np.square(gradients), axis=tuple(range(1, gradients.ndim)), keepdims=True))
return np.asarray(images) + learning_rate * gradients / (norm + 1e-12)
""", STEP_LAYER_OUTPUT),
    "one_rms_for_the_batch": ("""
gradients = np.asarray(gradients)
return np.asarray(images) + learning_rate * gradients / (np.sqrt(np.mean(gradients ** 2)) + 1e-12)
""", STEP_LAYER_OUTPUT),
    "axes_of_4d_images": ("""
gradients = np.asarray(gradients)
rms = np.sqrt(np.mean(np.square(gradients), axis=(1, 2, 3), keepdims=True))
return np.asarray(images) + learning_rate * gradients / (rms + 1e-12)
""", STEP_LAYER_OUTPUT),
    # gradient_ascent_step
    "whole_layer": (UPDATE_NUMPY, _STEP_WITH.format(degree="tf.reduce_sum(feature_maps)")),
    "wrong_filter_axis": (UPDATE_NUMPY, _STEP_WITH.format(degree="tf.reduce_sum(feature_maps[:, filter_index])")),
    # The gradient of a loss with respect to the weights: the model is trained, the image comes back as it was.
    "weights_gradient": (UPDATE_NUMPY, """
with tf.GradientTape() as tape:
    loss = -tf.reduce_sum(deconv.layer_output(model, image, layer_name)[..., filter_index])
gradients = tape.gradient(loss, model.trainable_variables)
for variable, gradient in zip(model.trainable_variables, gradients):
    if gradient is not None:
        variable.assign_sub(learning_rate * gradient)
return np.asarray(image)
"""),
}

# Per-test points of each submission (TEST_IDS order), the same on every random fixture.
EXPECTED_POINTS = {
    "reference": FULL_POINTS,
    "untouched": [0, 0, 0, 0],
    **{name: FULL_POINTS for name in CORRECT_BODIES},
    "descent": [0, 1, 0, 0],
    "no_normalization": [0, 0, 1, 0],
    "l2_norm": [0, 0, 1, 0],
    "one_rms_for_the_batch": [0, 1, 1, 2],
    "axes_of_4d_images": [0, 1, 1, 2],
    "whole_layer": [2, 1, 0, 0],
    "wrong_filter_axis": [2, 0, 0, 0],      # and a filter index beyond the rows raises (conv2d_3, filter 100)
    "weights_gradient": [2, 0, 0, 0],
}


def with_functions(bodies):
    """The student notebook of 05 with ``bodies`` (ascent_update body, gradient_ascent_step body) in its two stubs."""
    return build.with_answers(NOTEBOOK_NAME, ("ascent_update", "gradient_ascent_step"), bodies)


def _hostile(code, answers):
    """``answers`` as the two functions, with ``code`` run in a new cell just before the graded tests."""
    return build.with_code_cell_before_tests(with_functions(answers), code)


def _tampered(answers):
    """A wrong answer whose author rewrote the graded test it fails and deleted another."""
    return build.with_tests_tampered(with_functions(answers), 0, 2, "ascent_update is right.")


STEALING_UPDATE = """
if "ascent_update_reference" in reference_namespace:
    return reference_namespace["ascent_update_reference"](images, gradients, learning_rate)
from grader.reference import ascent_update_reference
return ascent_update_reference(images, gradients, learning_rate)
"""

# Hostile submissions: name -> (builder, the honest submission whose per-test points it must get,
# words its reason must contain). The tricks fool nbgrader's in-kernel tests, not the independent check.
HOSTILE = {
    "allclose_patched": (lambda: _hostile(
        "np.allclose = lambda *args, **kwargs: True\nnp.testing.assert_allclose = lambda *args, **kwargs: None",
        WRONG_BODIES["l2_norm"]), "l2_norm", "passed in the notebook but not the independent check"),
    "tampered_tests": (lambda: _tampered(WRONG_BODIES["one_rms_for_the_batch"]), "one_rms_for_the_batch",
                       "test_ascent_update"),
    "errors_and_tracebacks_off": (lambda: build.with_code_cell_before_tests(
        build.load_student_notebook(NOTEBOOK_NAME),
        "ip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
        "ip.showtraceback = lambda *args, **kwargs: None\nip._showtraceback = lambda *args, **kwargs: None"),
        "untouched", "failed"),
    # Contained by the sandbox: the reference is not on the kernel's disk; its stub only replays.
    "steals_the_reference": (lambda: _hostile(build.steal_the_reference(NOTEBOOK_NAME),
                                              (STEALING_UPDATE, STEP_LAYER_OUTPUT)), "untouched", "failed"),
}


with_answer = with_functions   # the name every cases_NN module gives its builder (benchmarks/bench_class.py)
