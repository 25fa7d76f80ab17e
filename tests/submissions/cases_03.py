"""Build 03_cats_dogs_gradcam submissions from the student notebook: right and wrong ``get_CAM``s.

Each body replaces the stub inside ``get_CAM(processed_image, predicted_label, layer_name)``
and must leave the map in ``heatmap`` (the function's last line returns it).
"""

from submissions import build

NOTEBOOK_NAME = "03_cats_dogs_gradcam"

CORRECT_BODIES = {
    # NumPy after the tape, the sum over channels (the paper's), a guarded division.
    "correct_sum_numpy": """
grad_model = keras.Model(inputs=model.inputs, outputs=[model.get_layer(layer_name).output, model.output])
with tf.GradientTape() as tape:
    feature_maps, predictions = grad_model(processed_image)
    score = tf.gather(predictions, [predicted_label], axis=1)
gradients = tape.gradient(score, feature_maps).numpy()[0]        # (h, w, K)
weights = gradients.mean(axis=(0, 1))                            # (K,)
heatmap = np.maximum(feature_maps.numpy()[0] @ weights, 0)       # (h, w)
heatmap = heatmap / heatmap.max() if heatmap.max() > 0 else np.zeros_like(heatmap)
""",
    # TensorFlow throughout: einsum, the mean over channels, a floor under the maximum.
    "correct_einsum_tf": """
gradient_model = keras.Model(model.input, [model.get_layer(layer_name).output, model.output])
image = tf.convert_to_tensor(processed_image, dtype=tf.float32)
with tf.GradientTape() as tape:
    maps, outputs = gradient_model(image, training=False)
    class_score = outputs[0, predicted_label]
pooled = tf.reduce_mean(tape.gradient(class_score, maps), axis=[0, 1, 2])
heatmap = tf.einsum("bhwk,k->hw", maps, pooled) / maps.shape[-1]
heatmap = tf.maximum(heatmap, 0.0)
heatmap = (heatmap / tf.maximum(tf.reduce_max(heatmap), 1e-30)).numpy()
""",
}

# The course's get_CAM with the Grad-CAM steps right, and one step wrong in each.
_GRADIENT_MODEL = """
gradient_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])
with tf.GradientTape() as tape:
    conv_output_values, predictions = gradient_model(processed_image)
    loss = predictions[:, predicted_label]
grads_values = tape.gradient(loss, conv_output_values)
"""

WRONG_BODIES = {
    "no_relu": _GRADIENT_MODEL + """
alphas = tf.reduce_mean(grads_values, axis=(0, 1, 2))
heatmap = tf.reduce_mean(conv_output_values[0] * alphas, axis=-1).numpy()
heatmap = heatmap / heatmap.max()
""",
    "max_of_gradients": _GRADIENT_MODEL + """
alphas = tf.reduce_max(grads_values, axis=(0, 1, 2))
heatmap = tf.nn.relu(tf.reduce_mean(conv_output_values[0] * alphas, axis=-1)).numpy()
heatmap = heatmap / heatmap.max() if heatmap.max() > 0 else heatmap
""",
    "ignores_label": """
gradient_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])
with tf.GradientTape() as tape:
    conv_output_values, predictions = gradient_model(processed_image)
    loss = predictions[:, int(tf.argmax(predictions[0]))]
grads_values = tape.gradient(loss, conv_output_values)
alphas = tf.reduce_mean(grads_values, axis=(0, 1, 2))
heatmap = tf.nn.relu(tf.reduce_mean(conv_output_values[0] * alphas, axis=-1)).numpy()
heatmap = heatmap / heatmap.max() if heatmap.max() > 0 else heatmap
""",
    "no_normalization": _GRADIENT_MODEL + """
alphas = tf.reduce_mean(grads_values, axis=(0, 1, 2))
heatmap = tf.nn.relu(tf.reduce_mean(conv_output_values[0] * alphas, axis=-1)).numpy()
""",
    # The gradient with respect to the input image instead of the layer's output.
    "input_gradients": """
image = tf.convert_to_tensor(processed_image, dtype=tf.float32)
with tf.GradientTape() as tape:
    tape.watch(image)
    loss = model(image)[:, predicted_label]
grads_values = tape.gradient(loss, image)
alphas = tf.reduce_mean(grads_values, axis=(0, 1, 2))
heatmap = tf.nn.relu(tf.reduce_mean(image[0] * alphas, axis=-1)).numpy()
heatmap = heatmap / heatmap.max() if heatmap.max() > 0 else heatmap
""",
    # Always the default layer, whatever layer_name says.
    "fixed_layer": """
gradient_model = keras.Model(model.inputs, [model.get_layer(LAYER_NAME).output, model.output])
with tf.GradientTape() as tape:
    conv_output_values, predictions = gradient_model(processed_image)
    loss = predictions[:, predicted_label]
alphas = tf.reduce_mean(tape.gradient(loss, conv_output_values), axis=(0, 1, 2))
heatmap = tf.nn.relu(tf.reduce_mean(conv_output_values[0] * alphas, axis=-1)).numpy()
heatmap = heatmap / heatmap.max() if heatmap.max() > 0 else heatmap
""",
}


def with_get_cam(body):
    """The student notebook of 03 with ``body`` in place of get_CAM's stub."""
    return build.with_function_body(build.load_student_notebook(NOTEBOOK_NAME), "get_CAM", body)


with_answer = with_get_cam   # the name every cases_NN module gives its builder (benchmarks/bench_class.py)


def _hostile(code, body):
    """``body`` as get_CAM, with ``code`` run in a new cell just before the graded tests."""
    return build.with_code_cell_before_tests(with_get_cam(body), code)


def _tampered(body):
    """A wrong answer whose author rewrote the graded test it fails to pass and deleted another."""
    return build.with_tests_tampered(with_get_cam(body), 0, 3, "get_CAM is right.")


def _untouched_with(code):
    return build.with_code_cell_before_tests(build.load_student_notebook(NOTEBOOK_NAME), code)


STEALING_BODY = """
if "grad_cam" in reference_namespace:
    grad_cam = reference_namespace["grad_cam"]
else:
    from grader.reference import grad_cam
heatmap = grad_cam(model, processed_image, [predicted_label], layer_name)[0]
"""

# Hostile submissions: name -> (builder, the honest submission whose per-test points it must get,
# words its reason must contain). The tricks fool nbgrader's in-kernel tests; the independent
# check and the sandbox are not fooled. The honest twins score the same on every random fixture.
HOSTILE = {
    "allclose_patched": (lambda: _hostile(
        "np.allclose = lambda *args, **kwargs: True\nnp.testing.assert_allclose = lambda *args, **kwargs: None",
        WRONG_BODIES["no_relu"]), "no_relu", "passed in the notebook but not the independent check"),
    "tampered_tests": (lambda: _tampered(WRONG_BODIES["no_normalization"]), "no_normalization",
                       "test_get_CAM_shape_and_range"),
    "errors_and_tracebacks_off": (lambda: _untouched_with(
        "ip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
        "ip.showtraceback = lambda *args, **kwargs: None\nip._showtraceback = lambda *args, **kwargs: None"),
        "untouched", "failed"),
    # Contained by the sandbox: the reference is not on the kernel's disk; its stub only replays.
    "steals_the_reference": (lambda: _hostile(build.steal_the_reference(NOTEBOOK_NAME), STEALING_BODY),
                             "untouched", "failed"),
}


def writes_everywhere(canaries):
    """A correct answer whose notebook also tries to overwrite ``canaries`` (full marks, files intact)."""
    return _hostile(build.write_everywhere(canaries), CORRECT_BODIES["correct_sum_numpy"])
