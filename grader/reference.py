"""Reference implementations the hidden tests compare a student's answers with: the one
CAM and the one Grad-CAM outside the lessons (the checks, the tests and the benchmark import them).

Students never import this module; instructors keep it out of the student bundle.
"""

import os
import weakref

import numpy as np
import scipy.ndimage


def class_activation_map(features, class_weights, output_size=(28, 28), order=2):
    """CAM of one image for one class: M_c(x, y) = Σ_k w_k^c f_k(x, y), upsampled.

    features: (h, w, K) last conv feature maps of one image, e.g. (3, 3, 128).
    class_weights: (K,) dense-layer weights of the class, e.g. ``gap_weights[:, c]``.
    The maps are upsampled to ``output_size`` with ``scipy.ndimage.zoom`` (spline
    ``order``) before the weighted sum, as the course does. Returns float64 (H, W), raw.
    """
    features = np.asarray(features, dtype=np.float64)
    class_weights = np.asarray(class_weights, dtype=np.float64)
    if features.ndim != 3 or class_weights.shape != (features.shape[-1],):
        raise ValueError(
            f"features must be (h, w, K) and class_weights (K,), got {features.shape} and {class_weights.shape}"
        )
    height, width = features.shape[:2]
    zoom = (output_size[0] / height, output_size[1] / width, 1)
    upsampled = scipy.ndimage.zoom(features, zoom, order=order)  # (H, W, K)
    return upsampled @ class_weights


def show_cam_reference(image_index, features, results, gap_weights):
    """What ``show_cam(image_index)`` of lesson 01 must return: the raw 28×28 CAM of the predicted class."""
    predicted = int(np.argmax(results[image_index]))
    return class_activation_map(features[image_index], gap_weights[:, predicted])


# --------------------------------------------------------------------------------------
# Grad-CAM (lesson 03), batched
# --------------------------------------------------------------------------------------

GRAD_CAM_EPSILON = 1e-12

# model -> {layer name: tf.function}; weak keys so a deleted model takes its functions along.
_GRAD_CAM_FUNCTIONS = weakref.WeakKeyDictionary()


def _conv_layer_names(model):
    """Names of the model's layers whose output is 4-D (batch, h, w, channels), in order."""
    names = []
    for layer in model.layers:
        try:
            if len(layer.output.shape) == 4 and "conv" in layer.__class__.__name__.lower():
                names.append(layer.name)
        except (AttributeError, ValueError):  # layers without a single symbolic output
            continue
    return names


def _grad_cam_layer(model, layer_name):
    """The layer ``layer_name`` of ``model``; a ValueError listing the conv layers if absent or not 4-D."""
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(
            f"layer '{layer_name}' not found in model '{model.name}'; its conv layers are: "
            f"{', '.join(_conv_layer_names(model)) or 'none'}"
        )
    layer = model.get_layer(layer_name)
    if len(layer.output.shape) != 4:
        raise ValueError(
            f"Grad-CAM needs a layer with output (batch, h, w, channels); '{layer_name}' gives "
            f"{tuple(layer.output.shape)}. Conv layers: {', '.join(_conv_layer_names(model))}"
        )
    return layer


def _build_grad_cam_function(model, layer_name):
    """One ``tf.function`` (images (n, H, W, C), class indices (n,)) -> (A (n, h, w, K), ∂y^c/∂A (n, h, w, K)).

    Built once per (model, layer): the gradient model inputs -> [layer output, model output].
    """
    import keras
    import tensorflow as tf

    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)

    layer = _grad_cam_layer(model, layer_name)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"grad_cam needs a model with one input and one output; '{model.name}' has "
            f"{len(model.inputs)} and {len(model.outputs)}"
        )
    gradient_model = keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
    image_spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32)

    @tf.function(input_signature=[image_spec, tf.TensorSpec((None,), tf.int32)])
    def maps_and_gradients(images, class_indices):
        with tf.GradientTape() as tape:
            feature_maps, predictions = gradient_model(images, training=False)  # (n, h, w, K), (n, classes)
            class_scores = tf.gather(predictions, class_indices, axis=1, batch_dims=1)  # y^c per image, (n,)
        return feature_maps, tape.gradient(class_scores, feature_maps)  # A^k_ij and ∂y^c/∂A^k_ij

    return maps_and_gradients


def _grad_cam_function(model, layer_name):
    """The cached ``tf.function`` of :func:`_build_grad_cam_function` for (model, layer_name)."""
    functions = _GRAD_CAM_FUNCTIONS.setdefault(model, {})
    if layer_name not in functions:
        functions[layer_name] = _build_grad_cam_function(model, layer_name)
    return functions[layer_name]


def _grad_cam_class_indices(class_indices, num_images, num_classes):
    """An int32 vector (num_images,) from one index or one per image; ValueError when out of range."""
    indices = np.asarray(class_indices)
    if indices.ndim == 0:
        indices = np.full(num_images, indices)
    if indices.shape != (num_images,) or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"class_indices must be one integer or {num_images} integers (one per image), got {np.asarray(class_indices)!r}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise ValueError(f"class indices must be in 0-{num_classes - 1}, got {indices.tolist()}")
    return indices.astype(np.int32)


def grad_cam(model, images, class_indices, layer_name, dtype=np.float32):
    """Grad-CAM maps of a batch: L^c = ReLU(Σ_k α_k^c A^k), α_k^c = mean_ij ∂y^c/∂A^k_ij.

    model: a Keras model with one output (logits or probabilities; y^c is its column c).
    images: (n, H, W, C) already preprocessed for the model (float32).
    class_indices: one class for all images, or n classes (one per image).
    layer_name: a layer with output (n, h, w, K), usually the rectified output of the last conv
        block, as in the paper (lesson 03: ``top_activation``, the ReLU6 after ``top_conv``).
    Returns (n, h, w) in [0, 1] of ``dtype``, each map divided by its own maximum (an
    all-≤0 map gives zeros, never NaN). The model always runs in float32; with
    ``dtype=np.float64`` it runs eagerly (as a student's get_CAM does) and the weighted sum and
    the normalization are done in float64: the difference to the float32 answer measures how
    much round-off moves a map whose sum nearly cancels. The sum over channels matches the paper and
    tf-keras-vis; the course's ``np.mean`` differs by the factor 1/K, which the
    normalization removes. The gradient model and its ``tf.function`` are built once
    per (model, layer) and reused, so one call costs about one forward + backward pass.
    """
    images = np.asarray(images, dtype=np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if images.ndim != 4 or any(size is not None and size != got for size, got in zip(expected, images.shape[1:])):
        raise ValueError(f"images must have shape (n,) + {expected} for model '{model.name}', got {images.shape}")
    num_classes = int(model.outputs[0].shape[-1])
    indices = _grad_cam_class_indices(class_indices, len(images), num_classes)
    function = _grad_cam_function(model, layer_name)
    if np.dtype(dtype) == np.float64:
        function = function.python_function  # the same steps, run eagerly
    feature_maps, gradients = function(images, indices)
    feature_maps, gradients = feature_maps.numpy().astype(dtype), gradients.numpy().astype(dtype)
    alphas = gradients.mean(axis=(1, 2), keepdims=True)  # α_k^c, (n, 1, 1, K)
    maps = np.maximum((alphas * feature_maps).sum(axis=-1), 0)  # ReLU(Σ_k α_k^c A^k), (n, h, w)
    peaks = maps.max(axis=(1, 2), keepdims=True)  # (n, 1, 1)
    return maps / np.maximum(peaks, GRAD_CAM_EPSILON)


# The grader records the answers of a trusted run for the sandboxed kernels (see grader/sandbox/replay.py).
if os.environ.get("COURSE_REFERENCE_RECORD"):
    from grader.sandbox.replay import RECORD_VARIABLE, record

    # Lesson 01's answers are linear in a 3×3 map: four pixels of each (see grader/sandbox/replay.py).
    record(globals(), ["show_cam_reference", "grad_cam"], os.environ[RECORD_VARIABLE], revealed={"show_cam_reference": 4})
