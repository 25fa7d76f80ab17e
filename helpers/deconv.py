"""The deconvnet and the three backward rules through ReLU (lesson 04), and the 6×6
cross-correlation example of lesson 05.

Max pooling with switches and unpooling are lesson 04's exercise, so they are not here: the
students write them, and :func:`deconvnet_projection` takes them as arguments (lesson 04 passes
its own ``max_pool_with_switches`` and ``unpool``).

Conventions

- Images and feature maps are NHWC: ``(batch, height, width, channels)``. Functions take
  NumPy arrays or tensors. The building block :func:`layer_output` returns a ``tf.Tensor`` so
  it can run inside ``tf.function``; the lesson-level functions (:func:`deconvnet_projection`,
  :func:`input_gradient`, :func:`top_patches`) return NumPy arrays.
- The models are Keras ``Sequential`` conv nets such as :func:`helpers.models.build_gap_cnn`:
  ``Conv2D`` (ReLU), ``MaxPooling2D``, then global pooling and ``Dense`` layers.
- Class scores are the last ``Dense`` layer's *pre-softmax* outputs (logits),
  ``features @ W + b``, computed by :func:`_linear_response`.

Three backward passes through a ReLU ``y = max(x, 0)``, given the signal ``g`` arriving from above:

====================  ==================================  =========================
rule                  signal passed down                  gates by
====================  ==================================  =========================
``"backprop"``        ``g * (x > 0)``                     the forward input
``"deconvnet"``       ``max(g, 0)``                       the backward signal
``"guided"``          ``max(g, 0) * (x > 0)``             both
====================  ==================================  =========================
"""

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

RELU_BACKWARD_RULES = ("backprop", "deconvnet", "guided")


# --- Lesson 05: a feature map by hand -------------------------------------------------------


def valid_cross_correlation(image, kernel):
    """Slide ``kernel`` (kh, kw) over ``image`` (h, w) without padding; returns (h-kh+1, w-kw+1).

    Output ``[i, j] = Σ_a Σ_b image[i + a, j + b] · kernel[a, b]`` – what ``Conv2D`` computes
    (deep-learning "convolution" does not flip the kernel).
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(
            f"image and kernel must both be 2-D, got shapes {image.shape} and {kernel.shape}"
        )
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError(f"kernel {kernel.shape} is larger than image {image.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)  # (out_h, out_w, kh, kw)
    return np.einsum("ijab,ab->ij", windows, kernel)


# --- NHWC tensors ---------------------------------------------------------------------------


def _as_float_tensor(values, name):
    """``values`` as a float tensor of rank 4 (NHWC); integers become float32."""
    tensor = tf.convert_to_tensor(values)
    if not tensor.dtype.is_floating:
        tensor = tf.cast(tensor, tf.float32)
    if tensor.shape.rank != 4:
        raise ValueError(f"{name} must have shape (batch, height, width, channels), got {tensor.shape}")
    return tensor


# --- Walking a Sequential conv net layer by layer -------------------------------------------


def _activation_name(layer):
    """'relu', 'softmax', 'linear', ... for a layer with an ``activation`` attribute."""
    return keras.activations.serialize(layer.activation)


def _layers_up_to(model, layer_name):
    """The layers of ``model`` from the input up to and including ``layer_name`` (None: all)."""
    names = [layer.name for layer in model.layers]
    if layer_name is None:
        return list(model.layers)
    if layer_name not in names:
        conv_names = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        raise ValueError(
            f"layer {layer_name!r} not found in model {model.name!r}; its layers are {names} "
            f"(conv layers: {conv_names})"
        )
    return list(model.layers[: names.index(layer_name) + 1])


def _linear_response(layer, inputs):
    """The output of a ``Conv2D`` or ``Dense`` layer before its activation: ``inputs ∗ W + b``.

    For the GAP-CNN's softmax ``dense`` layer this gives the class scores (logits),
    features (batch, 128) @ W (128, 10) + b -> (batch, 10).
    """
    if isinstance(layer, keras.layers.Conv2D):
        if layer.data_format != "channels_last" or layer.groups != 1:
            raise ValueError(f"layer {layer.name!r}: only channels_last convolutions with groups=1 work here")
        response = tf.nn.conv2d(
            inputs, tf.convert_to_tensor(layer.kernel), strides=layer.strides,
            padding=layer.padding.upper(), dilations=layer.dilation_rate,
        )
    elif isinstance(layer, keras.layers.Dense):
        response = tf.matmul(inputs, tf.convert_to_tensor(layer.kernel))
    else:
        raise ValueError(f"layer {layer.name!r} is a {type(layer).__name__}, not a Conv2D or Dense layer")
    if layer.use_bias:
        response = response + tf.convert_to_tensor(layer.bias)
    return response


def _apply_layer(layer, inputs, relu, before_activation):
    """Run one layer in inference mode, with ``relu`` standing in for every ReLU."""
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        response = _linear_response(layer, inputs)
        activation = _activation_name(layer)
        if before_activation or activation == "linear":
            return response
        return relu(response) if activation == "relu" else layer.activation(response)
    if isinstance(layer, keras.layers.Activation) and _activation_name(layer) == "relu":
        return relu(inputs)
    if isinstance(layer, keras.layers.ReLU):
        if layer.max_value is not None or layer.negative_slope != 0 or layer.threshold != 0:
            raise ValueError(f"layer {layer.name!r} is not a plain ReLU (max_value, slope or threshold set)")
        return relu(inputs)
    return layer(inputs, training=False)


def layer_output(model, images, layer_name=None, before_activation=False, relu=tf.nn.relu):
    """Run ``images`` (batch, H, W, C) through ``model`` up to ``layer_name``; return its output.

    ``layer_name=None`` means the last layer *before its activation*: for a classifier
    with a softmax ``Dense`` on top, the class scores (logits) of shape (batch, classes).
    ``before_activation=True`` returns any named Conv2D/Dense layer's pre-activation.
    ``relu`` replaces every ReLU on the way (see :func:`relu_with_backward_rule`).
    Layers run in inference mode (dropout off). Returns a ``tf.Tensor``.
    """
    layers = _layers_up_to(model, layer_name)
    if layer_name is None:
        before_activation = True
    outputs = _as_float_tensor(images, "images")
    for layer in layers[:-1]:
        outputs = _apply_layer(layer, outputs, relu, before_activation=False)
    return _apply_layer(layers[-1], outputs, relu, before_activation)


# --- Lesson 04: the deconvnet ---------------------------------------------------------------


def _deconvnet_layers(model, layer_name):
    """The Conv2D (ReLU) and MaxPooling2D layers up to ``layer_name``, checked for the deconvnet."""
    layers = _layers_up_to(model, layer_name)
    for layer in layers:
        if isinstance(layer, keras.layers.Conv2D):
            if _activation_name(layer) != "relu" or tuple(layer.dilation_rate) != (1, 1):
                raise ValueError(f"conv layer {layer.name!r} must use activation='relu' and no dilation")
            if layer.data_format != "channels_last" or layer.groups != 1:
                raise ValueError(f"conv layer {layer.name!r} must be channels_last with groups=1")
        elif isinstance(layer, keras.layers.MaxPooling2D):
            size, strides = tuple(layer.pool_size), tuple(layer.strides)
            if size[0] != size[1] or strides != size or layer.padding != "valid":
                raise ValueError(f"pooling layer {layer.name!r} must be square with stride = size, 'valid'")
        elif not isinstance(layer, keras.layers.Dropout):
            raise ValueError(
                f"the deconvnet goes through Conv2D and MaxPooling2D layers only; {layer.name!r} is a "
                f"{type(layer).__name__}. Pick a conv layer below it."
            )
    return [layer for layer in layers if not isinstance(layer, keras.layers.Dropout)]


class StrongestActivation(NamedTuple):
    """Per image, the strongest activation of one feature map and where it is (all shape (batch,))."""

    values: np.ndarray
    rows: np.ndarray
    columns: np.ndarray


def _check_channel(feature_maps, channel):
    """Raise a ValueError unless ``channel`` indexes the last axis of ``feature_maps`` (batch, h, w, C)."""
    if not 0 <= channel < feature_maps.shape[-1]:
        raise ValueError(f"channel {channel} does not exist; the layer has {feature_maps.shape[-1]} maps")


def strongest_activation(feature_maps, channel):
    """Find the largest value of ``feature_maps[..., channel]`` in every image.

    ``feature_maps``: (batch, h, w, C). Returns :class:`StrongestActivation` with the values
    and their (row, column) positions in the map (first one in row-major order on ties).
    """
    feature_maps = np.asarray(feature_maps)
    if feature_maps.ndim != 4:
        raise ValueError(f"feature maps must have shape (batch, h, w, C), got {feature_maps.shape}")
    _check_channel(feature_maps, channel)
    channel_maps = feature_maps[..., channel]  # (batch, h, w)
    flat_index = channel_maps.reshape(len(channel_maps), -1).argmax(axis=1)  # (batch,)
    rows, columns = np.unravel_index(flat_index, channel_maps.shape[1:])
    values = channel_maps[np.arange(len(channel_maps)), rows, columns]
    return StrongestActivation(values, rows, columns)


def keep_strongest(feature_maps, channel):
    """Zero every activation except the strongest one of ``channel`` in each image.

    ``feature_maps``: (batch, h, w, C) -> same shape, one non-zero entry per image at most.
    """
    feature_maps = np.asarray(feature_maps)
    strongest = strongest_activation(feature_maps, channel)
    kept = np.zeros_like(feature_maps)
    kept[np.arange(len(kept)), strongest.rows, strongest.columns, channel] = strongest.values
    return kept


def _checked_pooling(max_pool_with_switches, signal, pool_size):
    """``max_pool_with_switches(signal, pool_size=pool_size)`` as float32 tensor and switches, shapes checked."""
    batch, height, width, channels = signal.shape
    expected = (batch, height // pool_size, width // pool_size, channels)
    pooled, switches = max_pool_with_switches(signal.numpy(), pool_size=pool_size)
    if np.shape(pooled) != expected or np.shape(switches) != expected:
        raise ValueError(
            f"max_pool_with_switches of a {tuple(signal.shape)} map with pool_size={pool_size} returned pooled "
            f"{np.shape(pooled)} and switches {np.shape(switches)}; both must be {expected}"
        )
    return tf.constant(np.asarray(pooled, dtype=np.float32)), switches


def _checked_unpooling(unpool, signal, switches, output_shape, pool_size):
    """``unpool(signal, switches, output_shape, pool_size=pool_size)`` as a float32 tensor, shape checked."""
    unpooled = unpool(signal.numpy(), switches, output_shape, pool_size=pool_size)
    if np.shape(unpooled) != tuple(output_shape):
        raise ValueError(f"unpool returned shape {np.shape(unpooled)}, not the map's shape before pooling "
                         f"{tuple(output_shape)}")
    return tf.constant(np.asarray(unpooled, dtype=np.float32))


def deconvnet_projection(model: keras.Model, images: np.ndarray, layer_name: str, channel: int,
                         max_pool_with_switches: Callable, unpool: Callable) -> np.ndarray:
    """Project feature map ``channel`` of conv layer ``layer_name`` back to pixel space (ZFNet).

    Forward: run ``images`` (batch, H, W, C) up to ``layer_name``; through each pooling layer
    call ``max_pool_with_switches(maps, pool_size=p)`` -> (pooled, switches), both
    (batch, H // p, W // p, C), and remember the switches. Keep the strongest activation of the
    map per image and zero everything else (:func:`keep_strongest`). Backward, layer by layer
    going down: through a pooling layer ``unpool(signal, switches, output_shape, pool_size=p)``
    with its switches (output_shape: the layer's input shape, (batch, H, W, C)); through a conv
    layer first **rectify** (ReLU, undoing the layer's ReLU) then **filter with the transposed
    filters** (``tf.nn.conv2d_transpose`` with the layer's own kernel; biases are not used).

    ``max_pool_with_switches`` and ``unpool`` are lesson 04's exercise; they get and may return
    NumPy arrays. Returns a float32 array (batch, H, W, C) in input units (no normalization).
    """
    layers = _deconvnet_layers(model, layer_name)
    signal = _as_float_tensor(images, "images")
    input_shapes, switches = [], []
    for layer in layers:  # forward, remembering shapes and switches
        input_shapes.append(tuple(signal.shape))  # eager: fully known, e.g. (batch, 28, 28, 1)
        if isinstance(layer, keras.layers.MaxPooling2D):
            signal, layer_switches = _checked_pooling(max_pool_with_switches, signal, layer.pool_size[0])
            switches.append(layer_switches)
        else:
            signal = layer(signal)  # conv + ReLU
    signal = tf.constant(keep_strongest(signal.numpy(), channel))  # (batch, h, w, C)
    for layer, input_shape in zip(reversed(layers), reversed(input_shapes)):  # backward, going down
        if isinstance(layer, keras.layers.MaxPooling2D):
            signal = _checked_unpooling(unpool, signal, switches.pop(), input_shape, layer.pool_size[0])
        else:
            signal = tf.nn.relu(signal)
            signal = tf.nn.conv2d_transpose(
                signal, tf.convert_to_tensor(layer.kernel), output_shape=input_shape,
                strides=layer.strides, padding=layer.padding.upper(),
            )
    return signal.numpy()


# --- Lesson 04: the image patches that excite a feature map most ----------------------------


class ReceptiveField(NamedTuple):
    """Where a feature-map position looks in the input, in input pixels.

    Map position (row, column) is centred on input pixel (start + jump·row, start + jump·column)
    (a half-integer centre means between two pixels) and sees a ``size``×``size`` square.
    """

    size: int
    jump: int
    start: float


def _receptive_field(model, layer_name):
    """The :class:`ReceptiveField` of a map of conv/pooling layer ``layer_name`` in ``model``.

    GAP-CNN: ``conv2d`` 3 px, ``conv2d_1`` 8 px, ``conv2d_2`` 18 px, ``conv2d_3`` 38 px
    (larger than the 28-pixel image). Walks the layers with size += (k-1)·jump,
    start += ((k-1)/2 - top padding)·jump, jump *= stride.
    """
    size, jump, start = 1, 1, 0.0
    input_size = model.input_shape[1]
    for layer in _deconvnet_layers(model, layer_name):
        if isinstance(layer, keras.layers.Conv2D):
            kernel, stride = layer.kernel_size[0], layer.strides[0]
        else:
            kernel, stride = layer.pool_size[0], layer.strides[0]
        if layer.padding == "same":
            output_size = -(-input_size // stride)  # ceil(input_size / stride)
            padding_top = max((output_size - 1) * stride + kernel - input_size, 0) // 2
        else:
            output_size, padding_top = (input_size - kernel) // stride + 1, 0
        size += (kernel - 1) * jump
        start += ((kernel - 1) / 2 - padding_top) * jump
        jump *= stride
        input_size = output_size
    return ReceptiveField(size, jump, start)


def crop_receptive_fields(images, field, rows, columns):
    """Cut the ``field.size``² square that map position (rows[i], columns[i]) sees out of images[i].

    ``images``: (n, H, W, C); ``rows``, ``columns``: (n,) map positions; ``field``: a
    :class:`ReceptiveField`. Parts of the square outside the image are zeros, so every crop
    has shape ``(field.size, field.size, C)``; returns (n, size, size, C).
    """
    images = np.asarray(images)
    size = field.size
    padded = np.pad(images, [(0, 0), (size, size), (size, size), (0, 0)])
    crops = np.empty((len(images), size, size, images.shape[-1]), dtype=images.dtype)
    for index, (row, column) in enumerate(zip(rows, columns)):
        top = int(round(field.start + field.jump * row - (size - 1) / 2)) + size
        left = int(round(field.start + field.jump * column - (size - 1) / 2)) + size
        crops[index] = padded[index, top : top + size, left : left + size]
    return crops


class TopPatches(NamedTuple):
    """The ``k`` images whose strongest activation of one feature map is largest, best first."""

    patches: np.ndarray  # (k, size, size, C) input crops around the strongest activation
    image_indices: np.ndarray  # (k,) indices into the images given
    rows: np.ndarray  # (k,) map position of the strongest activation
    columns: np.ndarray  # (k,)
    activations: np.ndarray  # (k,) its value
    field: ReceptiveField


def top_patches(model, images, layer_name, channel, k=9):
    """The input patches that excite feature map ``channel`` of ``layer_name`` most (ZFNet's grids).

    Every image contributes its strongest activation of the map; the ``k`` largest win,
    one patch per image. Each patch is the receptive field of that map position
    (:func:`_receptive_field`), cropped from the image (zeros outside it). Crop the deconvnet
    projection of the same images with :func:`crop_receptive_fields` to show both side by side.
    Returns :class:`TopPatches`.
    """
    images = np.asarray(images, dtype=np.float32)
    if not 1 <= k <= len(images):
        raise ValueError(f"k must be between 1 and the number of images ({len(images)}), got {k}")
    _deconvnet_layers(model, layer_name)
    feature_maps = layer_output(model, images, layer_name).numpy()  # (n, h, w, C)
    strongest = strongest_activation(feature_maps, channel)
    best = np.argsort(-strongest.values, kind="stable")[:k]  # (k,)
    field = _receptive_field(model, layer_name)
    rows, columns = strongest.rows[best], strongest.columns[best]
    patches = crop_receptive_fields(images[best], field, rows, columns)
    return TopPatches(patches, best, rows, columns, strongest.values[best], field)


# --- Lesson 04: backprop, deconvnet and guided backprop as input gradients -----------------


def relu_with_backward_rule(rule):
    """A ReLU whose gradient follows ``rule``: "backprop", "deconvnet" or "guided".

    Forward it is always ``max(x, 0)``. Backward, with ``upstream`` the signal from above:
    backprop ``upstream·(x > 0)``, deconvnet ``max(upstream, 0)``, guided
    ``max(upstream, 0)·(x > 0)``.
    """
    if rule not in RELU_BACKWARD_RULES:
        raise ValueError(f"rule must be one of {RELU_BACKWARD_RULES}, not {rule!r}")

    @tf.custom_gradient
    def relu(inputs):
        def backward(upstream):
            forward_gate = tf.cast(inputs > 0, upstream.dtype)
            if rule == "backprop":
                return upstream * forward_gate
            if rule == "deconvnet":
                return tf.nn.relu(upstream)
            return tf.nn.relu(upstream) * forward_gate

        return tf.nn.relu(inputs), backward

    return relu


def _score_target(outputs, target):
    """Per-image scores (batch,) picked from a layer's ``outputs`` by ``target``.

    ``target`` is a callable ``outputs -> (batch,)`` (e.g. from :mod:`helpers.maximize`), or
    an index (or one index per image) on the last axis: for (batch, classes) outputs the
    class/unit score, for (batch, h, w, C) feature maps the strongest activation of channel
    ``target`` (the one the deconvnet keeps).
    """
    if callable(target):
        scores = target(outputs)
    else:
        if outputs.shape.rank == 4:
            outputs = tf.reduce_max(outputs, axis=(1, 2))  # (batch, C)
        if outputs.shape.rank != 2:
            raise ValueError(f"an index target needs (batch, units) or (batch, h, w, C), got {outputs.shape}")
        indices = np.broadcast_to(np.asarray(target, dtype=np.int32), (outputs.shape[0],))
        if indices.min() < 0 or indices.max() >= outputs.shape[-1]:
            raise ValueError(f"target {target} out of range; the layer has {outputs.shape[-1]} outputs")
        scores = tf.gather(outputs, indices[:, np.newaxis], batch_dims=1)[:, 0]
    if scores.shape.rank != 1:
        raise ValueError(f"the target must give one score per image, got shape {scores.shape}")
    return scores


def input_gradient(model, images, target, rule="backprop", layer_name=None, before_activation=False):
    """Gradient of a score with respect to the input pixels, ReLUs going backward by ``rule``.

    ``images``: (batch, H, W, C). The score comes from the output of ``layer_name``
    (None: the class scores before the softmax) through :func:`_score_target`, e.g.
    ``target=3`` for class 3, or channel 3's strongest activation of a conv layer.
    ``rule``: "backprop" (saliency), "deconvnet" or "guided" (guided backprop), applied to
    every ReLU on the way down (:func:`relu_with_backward_rule`). Max pooling routes the
    signal to its maxima, convolutions apply their transposed filters, as in plain backprop.
    Returns a float32 array (batch, H, W, C): score units per pixel unit.
    """
    relu = relu_with_backward_rule(rule)
    images = _as_float_tensor(images, "images")
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs = layer_output(model, images, layer_name, before_activation, relu=relu)
        total_score = tf.reduce_sum(_score_target(outputs, target))  # images are independent
    return tape.gradient(total_score, images).numpy()
