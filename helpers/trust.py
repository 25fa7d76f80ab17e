"""Can we trust a saliency map? The measures of lesson 06, batched where it pays.

- *Sanity checks* (Adebayo et al., 2018): :func:`cascading_randomization` re-initializes a
  model's layers from the top down; four similarities compare the map before and after, as in
  the paper: :func:`spearman` (of the maps as drawn, and of the signed maps), :func:`ssim` and
  :func:`hog_similarity`. :func:`effective_area` tells a map that localizes nothing (almost
  uniform) and :func:`sanity_verdict` turns the four into passes / fails / inconclusive.
- *Faithfulness* (Petsiuk et al., 2018, RISE): :func:`deletion_curve` and :func:`insertion_curve`
  remove or insert pixels, most salient first, and follow the class probability
  (:func:`deletion_and_insertion`: both, for several maps of one image, in one batch);
  :func:`area_under_curve` sums each curve into one number.
- *Baselines* a method should beat: :func:`random_map`, :func:`centred_gaussian_map`,
  :func:`sobel_edge_map`.
- *Localization*: :func:`share_inside`, the share of a map's mass inside a region.
- *Maps to test*, batched: :func:`class_gradient_function` (the input gradient of a class score,
  compiled once), :func:`guided_relu_copy` (the same network with its ReLU layers going backward
  by the guided rule: Guided Backprop), :func:`smoothgrad` (the mean over noisy copies of the
  map its caller makes from each gradient), :func:`logits_copy` (lesson 01's GAP-CNN without its
  softmax, to explain logits).
  Grad-CAM and Grad-CAM++ come from the library ``tf-keras-vis`` (lesson 03 has you write Grad-CAM).

A saliency map here is a float array (height, width), at the resolution of the model's input
(upsample a 7×7 Grad-CAM first); a batch of maps is (n, height, width).
"""

import keras
import numpy as np
import scipy.ndimage
import scipy.stats
import skimage.feature
import skimage.metrics
import tensorflow as tf

from helpers.imagenet import _looks_like_probabilities, softmax

_BLUR_SIGMA_PIXELS = 5.0  # the insertion baseline: RISE blurs with a Gaussian of sigma 5 pixels


# --- Sanity checks: rank correlation and model randomization --------------------------------

def spearman(map_a, map_b):
    """Spearman rank correlation between two maps, each flattened: a float in [-1, 1].

    ``map_a``, ``map_b``: (height, width) -> a float, or batches (n, height, width) -> (n,)
    floats, one per pair. It is the Pearson correlation of the pixels' ranks (ties share their
    average rank, as in ``scipy.stats.spearmanr``). A constant map has no ranking: its
    correlation with anything is defined here as 0.0 (scipy would give NaN).
    """
    (maps_a, maps_b), single = _as_map_batch(map_a, map_b)
    ranks_a = scipy.stats.rankdata(maps_a.reshape(len(maps_a), -1), axis=1)     # (n, h*w)
    ranks_b = scipy.stats.rankdata(maps_b.reshape(len(maps_b), -1), axis=1)
    correlations = _row_correlations(ranks_a, ranks_b)
    return float(correlations[0]) if single else correlations


def _as_map_batch(map_a, map_b):
    """Two maps (h, w) or batches (n, h, w) of the same shape as float64 (n, h, w), and whether they were single."""
    map_a, map_b = np.asarray(map_a, dtype=np.float64), np.asarray(map_b, dtype=np.float64)
    if map_a.shape != map_b.shape or map_a.ndim not in (2, 3):
        raise ValueError(f"expected two maps of the same shape (h, w) or (n, h, w), got {map_a.shape} and {map_b.shape}")
    single = map_a.ndim == 2
    return (map_a[None], map_b[None]) if single else (map_a, map_b), single


def _row_correlations(rows_a, rows_b):
    """The Pearson correlation of each pair of rows of (n, k) arrays -> (n,); 0.0 where a row is constant."""
    centred_a = rows_a - rows_a.mean(axis=1, keepdims=True)
    centred_b = rows_b - rows_b.mean(axis=1, keepdims=True)
    norms = np.sqrt((centred_a ** 2).sum(axis=1) * (centred_b ** 2).sum(axis=1))   # (n,), 0 for a constant row
    return np.divide((centred_a * centred_b).sum(axis=1), norms, out=np.zeros(len(norms)), where=norms > 0)


def _scaled_to_unit(maps):
    """Non-negative maps (n, h, w), each divided by its own maximum -> [0, 1]; an all-zero map stays 0.

    Raises a ValueError on negative values: SSIM and HOG compare maps as they are drawn (>= 0);
    take ``np.abs`` of a signed map first.
    """
    if maps.min() < 0:
        raise ValueError("ssim and hog_similarity compare non-negative maps; pass np.abs(map) or np.maximum(map, 0)")
    peaks = maps.max(axis=(1, 2), keepdims=True)                                  # (n, 1, 1)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)


def ssim(map_a, map_b, window=7):
    """The structural similarity (SSIM, Wang et al., 2004) of two non-negative maps, in [-1, 1].

    ``map_a``, ``map_b``: (h, w) -> a float, or (n, h, w) -> (n,) floats, one per pair; h, w >= ``window``.
    Each map is first divided by its own maximum (to [0, 1]: randomization changes the scale
    anyway), then ``skimage.metrics.structural_similarity`` compares local means, contrasts and
    correlations in ``window`` × ``window`` windows (data range 1) and averages them: 1 for
    identical maps. Two windows that are both empty count as identical, so two sparse maps
    score high wherever both are zero.
    """
    (maps_a, maps_b), single = _as_map_batch(map_a, map_b)
    maps_a, maps_b = _scaled_to_unit(maps_a), _scaled_to_unit(maps_b)
    values = np.array([skimage.metrics.structural_similarity(a, b, win_size=window, data_range=1.0)
                       for a, b in zip(maps_a, maps_b)])
    return float(values[0]) if single else values


def hog_similarity(map_a, map_b, cells=14):
    """Adebayo et al.'s HOG similarity: the Pearson correlation of two maps' HOG features, in [-1, 1].

    ``map_a``, ``map_b``: non-negative, (h, w) -> a float, or (n, h, w) -> (n,) floats. Each map is
    divided by its own maximum, then described by ``skimage.feature.hog``: histograms of 9
    edge orientations in a grid of ``cells`` × ``cells`` cells (2×2 pixels each on a 28×28
    digit, 16×16 on a 224×224 photo), normalized in blocks of 2×2 cells. It compares the
    *shapes* a map draws (edges and their directions), not its pixel values. A map without any
    edge (constant) has no HOG to correlate: its similarity with anything is 0.0.
    """
    (maps_a, maps_b), single = _as_map_batch(map_a, map_b)
    height, width = maps_a.shape[1:]
    if height < 2 * cells or width < 2 * cells:
        raise ValueError(f"maps of {height}×{width} pixels are too small for {cells}×{cells} cells of at least 2×2 pixels")
    options = dict(orientations=9, pixels_per_cell=(height // cells, width // cells), cells_per_block=(2, 2))
    features_a = np.stack([skimage.feature.hog(a, **options) for a in _scaled_to_unit(maps_a)])   # (n, features)
    features_b = np.stack([skimage.feature.hog(b, **options) for b in _scaled_to_unit(maps_b)])
    correlations = _row_correlations(features_a, features_b)
    return float(correlations[0]) if single else correlations


def effective_area(saliency_map):
    """The share of the image a non-negative map effectively covers: (Σ m)² / (N · Σ m²), in (0, 1].

    ``saliency_map``: (h, w) -> a float, or (n, h, w) -> (n,); N = h · w pixels. 1.0 for a uniform
    map, k / N for a map that is equal on k pixels and zero elsewhere (the participation ratio).
    A map that covers most of the image (say more than three quarters) points nowhere in
    particular, and its pixel ranking is decided by small differences. An all-zero map covers
    nothing: 0.0.
    """
    maps = np.asarray(saliency_map, dtype=np.float64)
    if maps.ndim not in (2, 3) or maps.min() < 0:
        raise ValueError(f"expected a non-negative map (h, w) or (n, h, w), got shape {maps.shape}")
    flat = maps.reshape(maps.shape[:-2] + (-1,))                               # (n, N) or (N,)
    squares = (flat ** 2).sum(axis=-1)
    return np.divide(flat.sum(axis=-1) ** 2, flat.shape[-1] * squares, out=np.zeros_like(squares), where=squares > 0)[()]


def sanity_verdict(similarities, threshold=0.3, flat=False):
    """The verdict of a sanity check from several similarities of the trained and the randomized maps.

    ``similarities``: the measures' values (e.g. ρ of the maps, ρ of the signed maps, SSIM, HOG),
    each near 1 when the randomized map still looks like the trained one. Each value below
    ``threshold`` says "the map changed". Returns "passes" when at least three quarters of the
    measures say so (3 of 4), "fails" when at most one quarter do (1 of 4), otherwise
    "inconclusive" (the measures disagree); always "inconclusive" when ``flat`` (the trained map
    localizes nothing, see :func:`effective_area`: a change of its pixel ranking means little).
    """
    values = np.asarray(list(similarities), dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"expected a non-empty list of similarities, got {similarities!r}")
    if flat:
        return "inconclusive"
    changed = np.mean(values < threshold)
    return "passes" if changed >= 0.75 else "fails" if changed <= 0.25 else "inconclusive"


def _copy_of(model):
    """A clone of ``model`` (same architecture) holding a copy of its weights."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def _reinitialize(layer):
    """Give ``layer`` fresh weights drawn by its own initializers (as when it was first built)."""
    fresh = layer.__class__.from_config(layer.get_config())
    fresh.build(layer.input.shape)
    layer.set_weights(fresh.get_weights())


def _as_group(step):
    """A cascade step (one layer name, or a list/tuple of names randomized together) as a tuple."""
    return (step,) if isinstance(step, str) else tuple(step)


def cascading_randomization(model, layer_names, seed=0, in_place=False):
    """Yield ``(step, randomized_model)``: the named layers re-initialized from the top down.

    ``layer_names``: layer names, or groups of names (a list or tuple: e.g. every layer of a
    block) randomized together as one step. Steps are taken from the output towards the input
    (by their top-most layer), whatever their order in ``layer_names``; at step k the k top-most
    steps carry fresh random weights (cumulative, as in Adebayo et al.'s cascading randomization)
    and every other layer keeps its trained weights. ``step`` is the name, or the tuple of names.
    By default every step yields a new clone and ``model`` is never changed, so the steps can be
    kept side by side. With ``in_place=True`` ``model`` itself is randomized further at each step
    and yielded every time: no copies, and a function compiled on it, or a model sharing its
    layers, keeps working (faster for a big network; copy it first to keep the trained weights).
    ``seed`` seeds Keras' random generators once, before the first step.
    """
    positions = {layer.name: index for index, layer in enumerate(model.layers)}
    with_weights = [layer.name for layer in model.layers if layer.weights]
    steps = [_as_group(step) for step in layer_names]
    unknown = [name for group in steps for name in group if name not in with_weights]
    if unknown:
        raise ValueError(f"layers {unknown} are not layers with weights of '{model.name}'; "
                         f"those are: {', '.join(with_weights)}")
    keras.utils.set_random_seed(seed)
    randomized = model
    for group in sorted(steps, key=lambda group: max(positions[name] for name in group), reverse=True):
        if not in_place:
            randomized = _copy_of(randomized)
        for name in group:
            _reinitialize(randomized.get_layer(name))
        yield (group[0] if len(group) == 1 else group), randomized


# --- Faithfulness: deletion and insertion curves ---------------------------------------------

def _check_image_and_map(image, saliency_map):
    """Raise ValueError unless ``image`` is (h, w, c) and ``saliency_map`` is (h, w)."""
    if np.ndim(image) != 3 or np.shape(saliency_map) != np.shape(image)[:2]:
        raise ValueError(f"expected an image (h, w, c) and a map (h, w) of the same size, got {np.shape(image)} "
                         f"and {np.shape(saliency_map)}; upsample the map to the image's size first")


def _perturbed_batch(start_image, end_image, saliency_map, steps):
    """(steps + 1, h, w, c) images: at step k the round(k / steps · h·w) most salient pixels from ``end_image``.

    The other pixels come from ``start_image``; ties in the map keep the pixels' reading order.
    """
    height, width = saliency_map.shape
    order = np.argsort(-saliency_map.ravel(), kind="stable")               # most salient first
    rank = np.empty(height * width, dtype=np.int64)
    rank[order] = np.arange(height * width)                                   # rank of each pixel
    counts = np.round(np.linspace(0, 1, steps + 1) * height * width)        # (steps + 1,) pixels switched
    switched = rank.reshape(1, height, width) < counts[:, None, None]       # (steps + 1, h, w)
    return np.where(switched[..., None], end_image[None], start_image[None]).astype(np.float32)


def _class_probabilities(model, batch, label, batch_size=None):
    """Probabilities of class ``label`` (n,) for ``batch`` (n, h, w, c).

    Without ``batch_size``: one call of the model. With it: ``model.predict`` in chunks of
    ``batch_size``, compiled once per model (about twice as fast as eager calls for a big network).
    Outputs that are not probabilities (logits) go through a softmax first.
    """
    if batch_size is None:
        outputs = keras.ops.convert_to_numpy(model(batch, training=False))       # (n, classes)
    else:
        outputs = model.predict(batch, batch_size=batch_size, verbose=0)
    probabilities = outputs if _looks_like_probabilities(outputs) else softmax(outputs)
    return np.asarray(probabilities[:, label], dtype=np.float64)


def _perturbation_curve(model, label, start_image, end_image, saliency_map, steps):
    """Class probabilities (steps + 1,) as pixels switch from ``start_image`` to ``end_image``.

    At step k (k = 0 … steps) the round(k / steps · h·w) most salient pixels come from
    ``end_image`` and the rest from ``start_image``; all steps are one batch, one model call.
    """
    return _class_probabilities(model, _perturbed_batch(start_image, end_image, saliency_map, steps), label)


def deletion_curve(model, image, label, saliency_map, steps=50, baseline=0.0):
    """The probability of class ``label`` as the most salient pixels are deleted first.

    ``image``: (h, w, c), already in the model's input space (e.g. after
    ``imagenet_preprocess``); ``saliency_map``: (h, w). A deleted pixel takes the value of
    ``baseline`` (a number, or an array (h, w, c); default 0, mid-grey after
    ``imagenet_preprocess``). Returns (steps + 1,) probabilities at the deleted fractions
    0, 1/steps, …, 1: the first is the image's score, the last the baseline's. Logits are
    passed through a softmax. A faithful map makes the curve fall fast (a small area).
    """
    _check_image_and_map(image, saliency_map)
    image = np.asarray(image, dtype=np.float32)
    end_image = np.broadcast_to(np.asarray(baseline, dtype=np.float32), image.shape)
    return _perturbation_curve(model, label, image, end_image, np.asarray(saliency_map), steps)


def insertion_curve(model, image, label, saliency_map, steps=50, baseline=None):
    """The probability of class ``label`` as the most salient pixels are inserted first.

    Starts from ``baseline`` (an array (h, w, c) or a number; default the image blurred by a
    Gaussian of sigma 5 pixels, as in RISE) and puts back the image's own pixels, most salient
    first. Shapes and return value as in :func:`deletion_curve`: the first entry is the
    baseline's score, the last the image's. A faithful map makes the curve rise fast (a large area).
    """
    _check_image_and_map(image, saliency_map)
    image = np.asarray(image, dtype=np.float32)
    start_image = _insertion_start(image, baseline)
    return _perturbation_curve(model, label, start_image, image, np.asarray(saliency_map), steps)


def _insertion_start(image, baseline):
    """The image insertion starts from: ``baseline`` broadcast to the image, or the image blurred (None)."""
    if baseline is None:
        baseline = scipy.ndimage.gaussian_filter(image, sigma=(_BLUR_SIGMA_PIXELS, _BLUR_SIGMA_PIXELS, 0))
    return np.broadcast_to(np.asarray(baseline, dtype=np.float32), image.shape)


def deletion_and_insertion(model, image, label, maps, steps=16, deletion_baseline=0.0, insertion_baseline=None,
                           batch_size=32):
    """The deletion and insertion curves of several maps of one image, in one pass through the model.

    ``image``: (h, w, c) in the model's input space; ``maps``: (m, h, w), e.g. one per method;
    the baselines as in :func:`deletion_curve` and :func:`insertion_curve`. The three images every
    curve shares (the image, the deleted image, the insertion's start) go through once, with the
    m · 2 · (steps - 1) other perturbed images, through ``model.predict`` in chunks of
    ``batch_size``. Returns ``(deletion, insertion)``, each (m, steps + 1) probabilities of class
    ``label``, row i for map i.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"expected maps (m, h, w), got shape {maps.shape}")
    for saliency_map in maps:
        _check_image_and_map(image, saliency_map)
    image = np.asarray(image, dtype=np.float32)
    deleted = np.broadcast_to(np.asarray(deletion_baseline, dtype=np.float32), image.shape)
    inserted_from = _insertion_start(image, insertion_baseline)
    inner = [_perturbed_batch(image, deleted, saliency_map, steps)[1:-1] for saliency_map in maps] \
        + [_perturbed_batch(inserted_from, image, saliency_map, steps)[1:-1] for saliency_map in maps]
    batch = np.concatenate([np.stack([image, deleted, inserted_from])] + inner)   # (3 + 2·m·(steps - 1), h, w, c)
    scores = _class_probabilities(model, batch, label, batch_size)
    image_score, deleted_score, start_score = scores[:3]
    inner_scores = scores[3:].reshape(2, len(maps), steps - 1)
    deletion = np.concatenate([np.full((len(maps), 1), image_score), inner_scores[0],
                               np.full((len(maps), 1), deleted_score)], axis=1)
    insertion = np.concatenate([np.full((len(maps), 1), start_score), inner_scores[1],
                                np.full((len(maps), 1), image_score)], axis=1)
    return deletion, insertion


def area_under_curve(curve):
    """The area under ``curve`` (k + 1,) sampled at k + 1 evenly spaced points of [0, 1] (trapezoids).

    A batch of curves (n, k + 1) gives (n,) areas. A constant curve at p has area p.
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.shape[-1] < 2:
        raise ValueError(f"a curve needs at least 2 points, got shape {curve.shape}")
    return (curve[..., :-1] + curve[..., 1:]).sum(axis=-1) / (2 * (curve.shape[-1] - 1))


# --- Baselines: maps that know nothing about the model -------------------------------------

def random_map(shape, seed=0):
    """Uniform noise in [0, 1) of ``shape`` ((h, w) or (n, h, w)): the map that knows nothing."""
    return np.random.default_rng(seed).random(shape)


def centred_gaussian_map(shape, sigma_fraction=0.25):
    """A Gaussian bump (h, w) at the image centre, 1 there, with sigma = ``sigma_fraction`` · min(h, w).

    Photographers put the subject in the middle: a map any method should beat.
    """
    height, width = shape
    rows, columns = np.mgrid[0:height, 0:width]
    squared_distance = (rows - (height - 1) / 2) ** 2 + (columns - (width - 1) / 2) ** 2
    sigma = sigma_fraction * min(height, width)
    return np.exp(-squared_distance / (2 * sigma ** 2))


def sobel_edge_map(image):
    """The edge strength of ``image`` ((h, w) or (h, w, c); channels averaged) -> (h, w) floats >= 0.

    The magnitude of the Sobel gradient: large on edges, whatever the model thinks.
    """
    image = np.asarray(image, dtype=np.float64)
    grey = image.mean(axis=-1) if image.ndim == 3 else image
    return np.hypot(scipy.ndimage.sobel(grey, axis=0), scipy.ndimage.sobel(grey, axis=1))


# --- Localization ----------------------------------------------------------------------------

def share_inside(saliency_map, mask):
    """The share of a non-negative map's mass that lies where ``mask`` is True, in [0, 1].

    ``saliency_map``: (h, w) -> a float, or (n, h, w) -> (n,); ``mask``: (h, w) booleans
    (e.g. the dog's half of the photo). An all-zero map has no mass: its share is 0.0.
    Take ``np.abs`` or clip a signed map first; negative values raise a ValueError.
    """
    saliency_map, mask = np.asarray(saliency_map, dtype=np.float64), np.asarray(mask, dtype=bool)
    if saliency_map.shape[-2:] != mask.shape or saliency_map.ndim not in (2, 3):
        raise ValueError(f"expected a map (h, w) or (n, h, w) and a mask (h, w), got {saliency_map.shape} and {mask.shape}")
    if saliency_map.min() < 0:
        raise ValueError("share_inside needs a non-negative map; pass np.abs(map) or np.maximum(map, 0)")
    inside = (saliency_map * mask).sum(axis=(-2, -1))
    total = saliency_map.sum(axis=(-2, -1))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)[()]


# --- Maps to test, batched: gradient, Guided Backprop, SmoothGrad -------------------------------

def logits_copy(model):
    """A copy of ``model`` whose last layer outputs logits: its softmax activation made linear.

    For lesson 01's GAP-CNN (its ``dense`` layer ends in a softmax): explanations should follow the
    class score z_c, not the probability, which saturates and mixes in the other classes (lesson 02).
    The copy holds a copy of the weights; a model without a softmax last layer raises a ValueError.
    """
    last = model.layers[-1]
    if getattr(last, "activation", None) is not keras.activations.softmax:
        raise ValueError(f"the last layer '{last.name}' of '{model.name}' has no softmax activation to remove")

    def linear_last(layer):
        config = layer.get_config()
        if layer is last:
            config["activation"] = "linear"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=linear_last)
    copy.set_weights(model.get_weights())
    return copy


def class_gradient_function(model):
    """A function ``(images, class_indices) -> gradients`` compiled once for ``model``.

    ``images``: float32 (n, h, w, c) in the model's input space; ``class_indices``: int32 (n,),
    one class per image. Returns a tf.Tensor (n, h, w, c): ∂ output[i, class_indices[i]] / ∂ images[i],
    in output units per input unit (use a model that returns logits). Traced once for any batch
    size; a model changed in place (new weights) needs no new trace.
    """
    signature = [tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32),
                 tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=signature)
    def gradients(images, class_indices):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = model(images, training=False)                                    # (n, classes)
            scores = tf.gather(outputs, class_indices, axis=1, batch_dims=1)           # (n,)
        return tape.gradient(scores, images)

    return gradients


@tf.custom_gradient
def _guided_relu(inputs, max_value):
    """min(max(x, 0), max_value) forward; backward only positive signals pass, where 0 < x < max_value."""
    def backward(upstream):
        gate = tf.cast((inputs > 0) & (inputs < max_value), upstream.dtype)
        return tf.nn.relu(upstream) * gate, None

    return tf.minimum(tf.nn.relu(inputs), max_value), backward


class GuidedReLU(keras.layers.Layer):
    """A ReLU (capped at ``max_value``, e.g. 6 for ReLU6) whose gradient follows the guided rule."""

    def __init__(self, max_value=None, **kwargs):
        super().__init__(**kwargs)
        self.max_value = max_value

    def call(self, inputs):
        cap = float("inf") if self.max_value is None else float(self.max_value)
        return _guided_relu(inputs, tf.constant(cap, inputs.dtype))

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value}


def guided_relu_copy(model):
    """``model`` with every ``keras.layers.ReLU`` layer replaced by a :class:`GuidedReLU` (Guided Backprop).

    Every other layer is shared, weights included: the copy computes the same outputs and follows
    any change of ``model``'s weights. Only ReLU *layers* are replaced: a ReLU inside another layer
    (``Conv2D(..., activation="relu")``, as in lesson 01's GAP-CNN) raises a ValueError; for such a
    Sequential network use ``helpers.deconv.input_gradient(..., rule="guided")``.
    """
    inner = [layer.name for layer in model.layers
             if getattr(layer, "activation", None) is keras.activations.relu]
    if inner:
        raise ValueError(f"layers {inner} apply a ReLU inside them; guided_relu_copy replaces ReLU layers only "
                         "(use helpers.deconv.input_gradient(model, images, target, rule='guided'))")
    if not any(isinstance(layer, keras.layers.ReLU) for layer in model.layers):
        raise ValueError(f"'{model.name}' has no keras.layers.ReLU layer to make guided")

    def replace(layer):
        if not isinstance(layer, keras.layers.ReLU):
            return layer
        if layer.negative_slope or layer.threshold:
            raise ValueError(f"layer '{layer.name}' is a leaky or thresholded ReLU, which has no guided rule here")
        return GuidedReLU(max_value=layer.max_value, name=layer.name)

    return keras.models.clone_model(model, clone_function=replace)


def smoothgrad(gradient_function, images, class_indices, num_samples=8, noise=0.15, seed=0, *, to_map):
    """SmoothGrad (Smilkov et al., 2017): the mean over noisy copies of a map made from each copy's gradient.

    ``gradient_function(images, class_indices) -> (n, h, w, c)`` (e.g. from
    :func:`class_gradient_function`); ``images``: (n, h, w, c); ``class_indices``: (n,) ints.
    ``to_map(gradients)``: NumPy gradients (m, h, w, c) -> maps (m, ...), one per copy; the caller
    says how a gradient becomes a map (lesson 06 passes Σ_channels |gradient| and Σ_channels
    gradient, stacked). Each image gets ``num_samples`` copies plus Gaussian noise of standard
    deviation ``noise`` · (its max − its min); all n · num_samples copies go through in one batch.
    Returns float32 (n, ...): for each image, the mean of ``to_map`` over its copies.
    """
    images = np.asarray(images, dtype=np.float32)
    count, shape = len(images), images.shape[1:]
    spread = images.reshape(count, -1).max(axis=1) - images.reshape(count, -1).min(axis=1)  # (n,)
    sigma = (noise * spread).astype(np.float32).reshape(count, 1, 1, 1, 1)               # one σ per image
    draws = np.random.default_rng(seed).normal(size=(count, num_samples) + shape).astype(np.float32)
    noisy = images[:, None] + sigma * draws                                                 # (n, samples, h, w, c)
    classes = np.repeat(np.asarray(class_indices, dtype=np.int32), num_samples)            # (n·samples,)
    gradients = np.asarray(gradient_function(noisy.reshape((-1,) + shape), classes))      # (n·samples, h, w, c)
    maps = np.asarray(to_map(gradients))                                                   # (n·samples, ...)
    return maps.reshape((count, num_samples) + maps.shape[1:]).mean(axis=1).astype(np.float32)
