"""Lesson 05 (``05_filter_maximization``): one step of gradient ascent on the input.

The exercise has two functions:

- ``ascent_update(images, gradients, learning_rate)`` returns x + η g / (rms(g) + ε), each image of
  the batch moved along its own gradient divided by that gradient's root mean square (so every
  step moves a pixel by about η, whatever the scale of the score);
- ``gradient_ascent_step(model, layer_name, filter_index, image, learning_rate)`` takes g = ∇_x a^k,
  the gradient of filter k's degree of activation a^k = Σ_ij a_ij^k at layer ``layer_name`` with
  respect to the image (1, H, W, C), and returns ``ascent_update(image, g, learning_rate)``.

The references (:func:`ascent_update_reference`, :func:`gradient_ascent_step_reference`; the
hidden tests reach them through :mod:`grader.reference`), the fixture (random arrays of several
ranks for the update; small random conv nets built in the kernel for the step, one of them linear
with a second filter −3 times the chosen one), the code the capture cell runs for each case, and
the judge of the four graded tests.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np

from grader.checks.capture import Check

if TYPE_CHECKING:   # Keras is imported when a model is built, not with the grader
    import keras

ASSIGNMENT = "05_filter_maximization"
# What the hidden tests call through grader.reference (whole answers recorded: the check's inputs are new each run).
REFERENCES = {"ascent_update_reference": None, "gradient_ascent_step_reference": None}

RMS_EPSILON = 1e-12


# ---------------------------------------------------------------- references

def ascent_update_reference(images: np.ndarray, gradients: np.ndarray, learning_rate: float) -> np.ndarray:
    """x + η g / (rms(g) + ε) for a batch: ``images`` and ``gradients`` (n, ...) of one shape, any rank ≥ 2.

    rms(g) = sqrt(mean of g²) over all the values of one image (every axis but the first), so each
    image moves by η in root mean square, whatever the scale of its gradient; ε = 1e-12 keeps a zero
    gradient from giving NaN (the image then stays where it is). Not clipped. Returns float64.
    """
    images = np.asarray(images, dtype=np.float64)
    gradients = np.asarray(gradients, dtype=np.float64)
    if images.shape != gradients.shape or images.ndim < 2:
        raise ValueError(f"images and gradients must have one shape (n, ...), got {images.shape} and {gradients.shape}")
    axes = tuple(range(1, gradients.ndim))
    rms = np.sqrt(np.mean(np.square(gradients), axis=axes, keepdims=True))   # (n, 1, ..., 1)
    return images + learning_rate * gradients / (rms + RMS_EPSILON)


def filter_gradient(model: keras.Model, layer_name: str, filter_index: int, images: np.ndarray) -> np.ndarray:
    """∇_x a^k for each image: the gradient of a^k = Σ_ij a_ij^k, the summed feature map ``filter_index``
    (last axis) of layer ``layer_name``, with respect to ``images`` (n, H, W, C). Returns float32 (n, H, W, C).

    Each image's a^k depends on that image only, so the gradient of their sum is the gradient of each."""
    import keras
    import tensorflow as tf

    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)

    layer = model.get_layer(layer_name)
    if len(layer.output.shape) != 4 or not 0 <= filter_index < layer.output.shape[-1]:
        raise ValueError(f"layer {layer_name!r} gives {tuple(layer.output.shape)}: no filter {filter_index}")
    truncated = keras.Model(model.inputs[0], layer.output)
    images = tf.constant(np.asarray(images, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)
        feature_maps = truncated(images, training=False)                       # (n, h, w, K)
        degree = tf.reduce_sum(feature_maps[..., filter_index])                 # Σ over images of a^k
    return tape.gradient(degree, images).numpy()


def gradient_ascent_step_reference(model: keras.Model, layer_name: str, filter_index: int, image: np.ndarray,
                                   learning_rate: float) -> np.ndarray:
    """What ``gradient_ascent_step`` must return: x + η g / (rms(g) + ε) with g = ∇_x a^k (float64, unclipped).

    The mean activation (a^k divided by h·w) gives the same step: the normalization removes the factor."""
    return ascent_update_reference(image, filter_gradient(model, layer_name, filter_index, image), learning_rate)


# ---------------------------------------------------------------- the small networks of the check

def _grader_tiny_models(relu_first, relu_second, linear_filter, linear_index, channels):
    """The check's two networks, built from the fixture's arrays (copied into the capture cell, so
    they are built the same way in the kernel and here):

    - ``relu``: (n, 12, 12, C) -> ``grader_conv`` 3×3 valid, 4 filters, ReLU (n, 10, 10, 4) -> 2×2 max
      pooling -> ``grader_features`` 3×3 same, K filters, ReLU (n, 5, 5, K). ``relu_first`` is
      (3, 3, C, 4) and ``relu_second`` (3, 3, 4, K); every bias 0.5, so the filters are on.
    - ``linear``: (n, 6, 6, 1) -> ``grader_linear`` 3×3 valid, 2 filters, no activation, no bias
      (n, 4, 4, 2): filter ``linear_index`` is ``linear_filter`` (3, 3) ≥ 0, the other −3 times it.
      Summing the whole layer, or a row of the maps instead of a filter, climbs down that filter's a^k.
    """
    import keras
    import numpy

    first = numpy.asarray(relu_first, numpy.float32)
    second = numpy.asarray(relu_second, numpy.float32)
    relu = keras.Sequential([
        keras.Input((12, 12, int(channels))),
        keras.layers.Conv2D(first.shape[-1], 3, activation="relu", name="grader_conv"),
        keras.layers.MaxPooling2D(2, name="grader_pool"),
        keras.layers.Conv2D(second.shape[-1], 3, padding="same", activation="relu", name="grader_features"),
    ], name="grader_relu")
    relu.get_layer("grader_conv").set_weights([first, numpy.full(first.shape[-1], 0.5, numpy.float32)])
    relu.get_layer("grader_features").set_weights([second, numpy.full(second.shape[-1], 0.5, numpy.float32)])
    kernels = numpy.zeros((3, 3, 1, 2), numpy.float32)
    kernels[:, :, 0, int(linear_index)] = linear_filter
    kernels[:, :, 0, 1 - int(linear_index)] = -3 * numpy.asarray(linear_filter)
    linear = keras.Sequential([keras.Input((6, 6, 1)),
                               keras.layers.Conv2D(2, 3, use_bias=False, name="grader_linear")], name="grader_linear")
    linear.get_layer("grader_linear").set_weights([kernels])
    return {"relu": relu, "linear": linear}


STEP_CALL_SOURCE = '''
_grader_models = {}


def _grader_call(names, function, fixture, case):
    """Update cases call ascent_update on arrays; step cases call gradient_ascent_step on a small network."""
    if case < len(fixture["update_rates"]):
        return names["ascent_update"](fixture["update_images_%d" % case], fixture["update_gradients_%d" % case],
                                      float(fixture["update_rates"][case]))
    if not _grader_models:
        _grader_models.update(_grader_tiny_models(fixture["relu_first"], fixture["relu_second"],
                                                  fixture["linear_filter"], fixture["linear_index"],
                                                  fixture["channels"]))
    return function(*_step_inputs(fixture, _grader_models, case - len(fixture["update_rates"])))
'''

UPDATE_SHAPES = ((1, 5, 7, 1), (3, 4, 6, 2), (2, 3, 2, 4, 2))   # one image; a batch; a rank-5 batch (a spectrum)
RELU_STEPS = 4


def _on_the_edge(images, gradients):
    """Put each image's pixel of largest gradient at 1 and of smallest at 0 (in place), so the step
    leaves [0, 1] at both ends: an update that clips (the loop's job) cannot match the reference.
    With random pixels alone, a clipping update passed some draws."""
    flat_images, flat_gradients = images.reshape(len(images), -1), gradients.reshape(len(gradients), -1)
    rows = np.arange(len(images))
    flat_images[rows, flat_gradients.argmax(axis=1)] = 1.0   # g > 0 there (a normal draw): it moves above 1
    flat_images[rows, flat_gradients.argmin(axis=1)] = 0.0   # g < 0 there: it moves below 0


def update_cases(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The update cases of :func:`make_fixture`: ``update_images_K``, ``update_gradients_K`` (K = 0, 1, 2)
    and ``update_rates``."""
    cases = {}
    for case, shape in enumerate(UPDATE_SHAPES):
        scales = 10.0 ** rng.uniform(-3, 3, size=(shape[0],) + (1,) * (len(shape) - 1))
        cases[f"update_images_{case}"] = rng.uniform(0, 1, shape)
        cases[f"update_gradients_{case}"] = rng.normal(size=shape) * scales
        _on_the_edge(cases[f"update_images_{case}"], cases[f"update_gradients_{case}"])
    # One image of the batch has a zero gradient: it must stay where it is (ε, not NaN).
    cases["update_gradients_1"][int(rng.integers(0, UPDATE_SHAPES[1][0]))] = 0.0
    cases["update_rates"] = rng.uniform(0.005, 0.05, len(UPDATE_SHAPES))
    return cases


def make_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Update cases: random images and gradients of three shapes, each image's gradient on its own scale
    (10^-3 to 10^3, so one rms for the whole batch is wrong), each image with a pixel the step takes above 1
    and one below 0 (so clipping is wrong, :func:`_on_the_edge`), one image of the batch with a zero gradient
    (no ε gives NaN), a random learning rate each. Step cases: the
    ReLU network with random filters at a random layer with a random filter, four random images; then the
    linear network's image, its chosen filter at a random place. Learning rates 0.005-0.05.

    The filters' weights have a positive mean, so most positions are on and some off; a draw where a chosen
    filter is off everywhere on its image (∇_x a^k = 0: no step to judge) is drawn again."""
    fixture = update_cases(rng)
    fixture["linear_filter"] = rng.uniform(0.1, 1.0, (3, 3)).astype(np.float32)
    fixture["linear_index"] = np.array(int(rng.integers(0, 2)))
    fixture["linear_image"] = rng.uniform(0, 1, (1, 6, 6, 1)).astype(np.float32)
    fixture["step_networks"] = np.array(["relu"] * RELU_STEPS + ["linear"])
    fixture["step_rates"] = rng.uniform(0.005, 0.05, RELU_STEPS + 1)
    for _attempt in range(100):
        channels, filters = int(rng.integers(1, 3)), int(rng.integers(3, 5))
        layers = np.array(["grader_conv", "grader_features"])[rng.integers(0, 2, RELU_STEPS)]
        fixture.update({
            "channels": np.array(channels),
            "relu_first": rng.normal(0.1, 0.5, (3, 3, channels, 4)).astype(np.float32),
            "relu_second": rng.normal(0.05, 0.3, (3, 3, 4, filters)).astype(np.float32),
            "relu_images": rng.uniform(0, 1, (RELU_STEPS, 12, 12, channels)).astype(np.float32),
            "step_layers": np.append(layers, "grader_linear"),
            "step_filters": np.array([int(rng.integers(0, 4 if layer == "grader_conv" else filters))
                                      for layer in layers] + [int(fixture["linear_index"])]),
        })
        models = _grader_tiny_models(fixture["relu_first"], fixture["relu_second"], fixture["linear_filter"],
                                     fixture["linear_index"], fixture["channels"])
        if all(np.any(filter_gradient(*_step_inputs(fixture, models, step)[:4]) != 0) for step in range(RELU_STEPS)):
            break
    else:
        raise RuntimeError("100 draws of the ReLU network all had a filter off everywhere: its weights need a look")
    fixture["cases"] = np.arange(len(UPDATE_SHAPES) + RELU_STEPS + 1)
    return fixture


def _step_inputs(fixture, models, step):
    """(model, layer name, filter, image, learning rate) of step case ``step``."""
    network = str(fixture["step_networks"][step])
    image = fixture["relu_images"][step:step + 1] if network == "relu" else fixture["linear_image"]
    return (models[network], str(fixture["step_layers"][step]), int(fixture["step_filters"][step]),
            image, float(fixture["step_rates"][step]))


def _rms(values):
    return float(np.sqrt(np.mean(np.square(values))))


def judge(fixture: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, float]:
    """The fraction of points of each graded test (each 1.0 or 0.0):

    - test_ascent_update: every update case equals the reference (rtol 1e-5);
    - test_gradient_ascent_step_shape_and_size: every step has the image's shape, is finite and moved the
      image by the learning rate in root mean square (rms(new − image) = η, rtol 1e-3);
    - test_gradient_ascent_step_ascends: every step goes uphill for a^k, (new − image) · ∇_x a^k > 0
      (exact on the linear network, where the whole layer and a row instead of a filter go downhill);
    - test_gradient_ascent_step_filter: every step is the reference's, x + η ∇_x a^k / rms(∇_x a^k) of the
      filter it is given (to 0.001 η).
    """
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)

    updates_right = True
    for case, shape in enumerate(UPDATE_SHAPES):
        answer = outputs.get(f"case_{case}")
        expected = ascent_update_reference(fixture[f"update_images_{case}"], fixture[f"update_gradients_{case}"],
                                           float(fixture["update_rates"][case]))
        updates_right &= bool(answer is not None and answer.shape == expected.shape
                              and np.allclose(answer, expected, rtol=1e-5, atol=1e-7))
    models = _grader_tiny_models(fixture["relu_first"], fixture["relu_second"], fixture["linear_filter"],
                                 fixture["linear_index"], fixture["channels"])
    sized, uphill, along = True, True, True
    for step in range(len(fixture["step_networks"])):
        model, layer_name, filter_index, image, learning_rate = _step_inputs(fixture, models, step)
        answer = outputs.get(f"case_{len(UPDATE_SHAPES) + step}")
        if answer is None or answer.shape != image.shape or not np.all(np.isfinite(answer)):
            sized = uphill = along = False
            continue
        change = answer - image.astype(np.float64)                              # (1, H, W, C)
        gradient = filter_gradient(model, layer_name, filter_index, image).astype(np.float64)
        sized &= abs(_rms(change) - learning_rate) <= 1e-3 * learning_rate
        uphill &= float(np.sum(change * gradient)) > 0
        expected = ascent_update_reference(image, gradient, learning_rate)
        along &= bool(np.allclose(answer, expected, rtol=0, atol=1e-3 * learning_rate))
    return {
        "test_ascent_update": float(updates_right),
        "test_gradient_ascent_step_shape_and_size": float(sized),
        "test_gradient_ascent_step_ascends": float(uphill),
        "test_gradient_ascent_step_filter": float(along),
    }


def _largest_output(fixture, case):
    """An update has its images' shape; a step its image's, (1, 12, 12, C) or (1, 6, 6, 1)."""
    if case < len(UPDATE_SHAPES):
        return UPDATE_SHAPES[case]
    return (1, 12, 12, int(fixture["channels"]))


CHECK = Check(
    function="gradient_ascent_step",
    replaced=(),
    call="_grader_call(names, function, fixture, case)",
    make_fixture=make_fixture,
    judge=judge,
    largest_output=_largest_output,
    prelude=inspect.getsource(_grader_tiny_models) + inspect.getsource(_step_inputs) + STEP_CALL_SOURCE,
)
