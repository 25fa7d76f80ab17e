"""Activation maximization (lesson 05): find the input x* = argmax_x score(x) by gradient ascent.

Objectives are small callables on one layer's output that give one score per image, so a
batch of images is optimized at once, image ``b`` for target ``b``:

- :func:`filter_objective` – degree of activation of filter k, a^k = Σ_i Σ_j a_ij^k (conv maps);
- :func:`unit_objective` – one unit of a dense layer;
- :func:`class_objective` – a class score y^i *before the softmax* (the logits
  ``features @ W + b`` of the softmax ``Dense`` layer, from :func:`helpers.deconv.layer_output`
  with ``layer_name=None``). Maximizing the softmax probability instead would mostly push the
  other classes down.

:func:`maximize_activation` runs the ascent, optionally with the "no ink" L1 prior of the
slides, x* = argmax_x ( y^i − λ Σ_ij |x_ij| ) with pixels kept in [0, 1].
:func:`build_gap_cnn_with_dense` is the GAP-CNN with a hidden dense layer to visualize.
"""

from typing import NamedTuple

import keras
import numpy as np
import scipy.ndimage
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.deconv import layer_output

# --- Objectives -----------------------------------------------------------------------------


class Objective:
    """Score image ``b`` of a layer's output on target ``targets[b]`` (one int: every image).

    ``spatial_sum=True``: outputs are feature maps (batch, h, w, C) and the score is
    Σ_i Σ_j a_ij of the target channel; otherwise outputs are (batch, units) and the score
    is the target unit. Calling it returns a (batch,) tensor.
    """

    def __init__(self, targets, spatial_sum, description):
        self.targets = np.atleast_1d(np.asarray(targets, dtype=np.int32))
        if self.targets.ndim != 1 or self.targets.size == 0:
            raise ValueError(f"targets must be an index or a non-empty list of indices, got {targets!r}")
        self.spatial_sum = spatial_sum
        self.description = description

    def __len__(self):
        """How many images the objective asks for (1 for a single shared target)."""
        return len(self.targets)

    def __repr__(self):
        return f"{self.description}({self.targets.tolist()})"

    def __call__(self, outputs):
        expected_rank = 4 if self.spatial_sum else 2
        if outputs.shape.rank != expected_rank:
            raise ValueError(f"{self!r} needs a layer output of rank {expected_rank}, got {outputs.shape}")
        if self.targets.max() >= outputs.shape[-1] or self.targets.min() < 0:
            raise ValueError(f"{self!r}: the layer has only {outputs.shape[-1]} units/filters")
        per_target = tf.reduce_sum(outputs, axis=(1, 2)) if self.spatial_sum else outputs  # (batch, C)
        targets = np.broadcast_to(self.targets, (outputs.shape[0],)) if len(self) == 1 else self.targets
        return tf.gather(per_target, targets[:, np.newaxis], batch_dims=1)[:, 0]  # (batch,)


def filter_objective(filters):
    """a^k = Σ_i Σ_j a_ij^k: the summed feature map of filter k, one k (or one per image)."""
    return Objective(filters, spatial_sum=True, description="filter_objective")


def unit_objective(units):
    """The activation of dense unit i, one i (or one per image)."""
    return Objective(units, spatial_sum=False, description="unit_objective")


def class_objective(classes):
    """The score y^i of class i before the softmax; use it on the logits (``layer_name=None``)."""
    return Objective(classes, spatial_sum=False, description="class_objective")


# --- Gradient ascent on the input ------------------------------------------------------------


class Maximization(NamedTuple):
    """What :func:`maximize_activation` returns (n images of shape (H, W, C))."""

    images: np.ndarray  # (n, H, W, C) the maximizing inputs x*
    start_images: np.ndarray  # (n, H, W, C) where the ascent started
    start_scores: np.ndarray  # (n,) objective of the start images (no prior)
    final_scores: np.ndarray  # (n,) objective of the final images (no prior)
    score_history: np.ndarray  # (steps, n) objective before each step (jittered input)


def noise_images(num_images, input_shape=(28, 28, 1), seed=0, low=0.0, high=0.1):
    """Start images: a nearly blank page, uniform noise in [low, high); (num_images, *input_shape).

    float32, the same for the same ``seed``.
    """
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(num_images, *input_shape)).astype(np.float32)


def _make_ascent_step(model, objective, layer_name, before_activation, learning_rate, l1, clip):
    """A compiled step x <- clip(x + learning_rate · g / rms(g)), g = ∇_x (score − λ·penalty).

    The gradient is normalized per image (root mean square over its pixels), so every image
    moves by about ``learning_rate`` per pixel and step whatever the scale of its score.
    With pixels kept ≥ 0 the penalty Σ|x| equals Σx, whose gradient λ also pushes pixels
    that sit at 0 (``tf.abs`` would give them gradient 0 and let them drift up).
    """
    non_negative = clip is not None and clip[0] >= 0

    @tf.function(reduce_retracing=True)
    def ascent_step(images, shift):
        with tf.GradientTape() as tape:
            tape.watch(images)
            jittered = tf.roll(images, shift, axis=(1, 2))
            scores = objective(layer_output(model, jittered, layer_name, before_activation))  # (n,)
            ink = images if non_negative else tf.abs(images)
            penalized = tf.reduce_sum(scores) - l1 * tf.reduce_sum(ink)
        gradient = tape.gradient(penalized, images)  # (n, H, W, C)
        rms = tf.sqrt(tf.reduce_mean(tf.square(gradient), axis=(1, 2, 3), keepdims=True))
        images = images + learning_rate * gradient / (rms + 1e-12)
        if clip is not None:
            images = tf.clip_by_value(images, clip[0], clip[1])
        return images, scores

    return ascent_step


def _scores(model, objective, images, layer_name, before_activation):
    """The objective (n,) of ``images`` as a NumPy array."""
    return objective(layer_output(model, images, layer_name, before_activation)).numpy()


def maximize_activation(
    model, objective, layer_name=None, before_activation=False, num_images=None, start_images=None,
    steps=200, learning_rate=0.02, l1=0.0, clip=(0.0, 1.0), seed=0, jitter=0, blur_every=0,
    blur_sigma=0.5, progress=True,
):
    """Gradient ascent on the input: x* = argmax_x ( objective(x) − l1 · Σ_ij |x_ij| ).

    - ``model``: a Keras Sequential conv net; ``layer_name`` the layer whose output the
      ``objective`` scores (None: class scores before the softmax; ``before_activation=True``:
      a Conv2D/Dense layer's output before its ReLU, useful when a unit starts switched off).
    - Starts from ``start_images`` (n, H, W, C) or :func:`noise_images` in [0, 0.1) drawn with
      ``seed`` (``num_images`` defaults to ``len(objective)``), so reruns give the same images.
    - Each of ``steps`` steps moves every pixel by about ``learning_rate`` (gradient normalized
      per image) and clips to ``clip`` (None: no bounds). ``l1`` is λ, the weight of the
      "no ink" prior, in score units per unit of ink. Optional regularizers: a random shift of
      up to ``jitter`` pixels before each step, a Gaussian blur (``blur_sigma`` pixels) every
      ``blur_every`` steps.
    Returns :class:`Maximization`. About 1-2 s for 14 MNIST images and 200 steps on 2 cores.
    """
    num_targets = len(objective) if hasattr(objective, "__len__") else None
    if start_images is None:
        if num_images is None and num_targets is None:
            raise ValueError("give num_images or start_images: the objective does not say how many")
        start_images = noise_images(num_images or num_targets, tuple(model.input_shape[1:]), seed)
    start_images = np.asarray(start_images, dtype=np.float32)
    if num_targets not in (None, 1, len(start_images)):
        raise ValueError(f"the objective has {num_targets} targets but there are {len(start_images)} images")
    if clip is not None and not clip[0] < clip[1]:
        raise ValueError(f"clip must be (low, high) with low < high, got {clip}")
    ascent_step = _make_ascent_step(model, objective, layer_name, before_activation, learning_rate, l1, clip)
    shifts = np.random.default_rng(seed).integers(-jitter, jitter + 1, size=(steps, 2)).astype(np.int32)
    images, history = tf.constant(start_images), []
    for step in tqdm(range(steps), desc="gradient ascent", disable=not progress):
        images, scores = ascent_step(images, tf.constant(shifts[step]))
        history.append(scores)
        if blur_every and (step + 1) % blur_every == 0:
            blurred = scipy.ndimage.gaussian_filter(images.numpy(), (0, blur_sigma, blur_sigma, 0))
            images = tf.constant(blurred)  # (n, H, W, C), only across height and width
    return Maximization(
        images=images.numpy(),
        start_images=start_images,
        start_scores=_scores(model, objective, start_images, layer_name, before_activation),
        final_scores=_scores(model, objective, images, layer_name, before_activation),
        score_history=np.array([scores.numpy() for scores in history]).reshape(steps, len(start_images)),
    )


# --- A GAP-CNN with a hidden dense layer -----------------------------------------------------


def build_gap_cnn_with_dense(
    hidden_units=32, conv_weights_from=None, input_shape=(28, 28, 1), num_classes=10
):
    """The GAP-CNN with a hidden ReLU ``Dense`` layer, for "the first 9 units of a dense layer".

    Layers: the GAP-CNN's conv stack (``conv2d`` … ``global_average_pooling2d``), then
    ``batch_normalization``, ``dense`` (hidden_units, ReLU) and ``dense_1`` (num_classes,
    softmax) – the names Keras would give them. Shapes: (batch, 28, 28, 1) -> (batch, 128)
    -> (batch, hidden_units) -> (batch, num_classes). The GAP-CNN itself has no hidden dense
    layer, hence this variant. Why the batch normalization: the pooled features are all ≥ 0
    and share a large common part, so without centring them about a third of the hidden
    ReLU units never switch on for any digit (10 of 32 in our runs; 0 with it).

    It comes untrained and compiled. Train it quickly: pass the trained GAP-CNN as
    ``conv_weights_from`` to copy its conv filters and freeze them, then fit only the two
    dense layers, e.g. ``model.fit(x_train, y_train, epochs=3, batch_size=64)`` (a few
    seconds on 2 cores for the 4,000 offline digits).
    """
    from helpers.models import build_gap_cnn

    conv_stack = build_gap_cnn(input_shape, num_classes).layers[:-1]  # conv2d … global_average_pooling2d
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            *conv_stack,
            keras.layers.BatchNormalization(name="batch_normalization"),
            keras.layers.Dense(hidden_units, activation="relu", name="dense"),
            keras.layers.Dense(num_classes, activation="softmax", name="dense_1"),
        ],
        name="gap_cnn_with_dense",
    )
    if conv_weights_from is not None:
        for layer in conv_stack:
            if isinstance(layer, keras.layers.Conv2D):
                layer.set_weights(conv_weights_from.get_layer(layer.name).get_weights())
                layer.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
