"""Can we trust a saliency map? The measures of lesson 06, batched where it pays.

- *Sanity checks* (Adebayo et al., 2018): :func:`cascading_randomization` re-initializes a
  model's layers from the top down; :func:`spearman` compares the map before and after.
- *Faithfulness* (Petsiuk et al., 2018, RISE): :func:`deletion_curve` and :func:`insertion_curve`
  remove or insert pixels, most salient first, and follow the class probability;
  :func:`area_under_curve` sums each curve into one number.
- *Baselines* a method should beat: :func:`random_map`, :func:`centred_gaussian_map`,
  :func:`sobel_edge_map`.
- *Localization*: :func:`share_inside`, the share of a map's mass inside a region.

A saliency map here is a float array (height, width), at the resolution of the model's input
(upsample a 7×7 Grad-CAM first); a batch of maps is (n, height, width).
"""

import keras
import numpy as np
import scipy.ndimage
import scipy.stats

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
    map_a, map_b = np.asarray(map_a, dtype=np.float64), np.asarray(map_b, dtype=np.float64)
    if map_a.shape != map_b.shape or map_a.ndim not in (2, 3):
        raise ValueError(f"expected two maps of the same shape (h, w) or (n, h, w), got {map_a.shape} and {map_b.shape}")
    single = map_a.ndim == 2
    rows_a = map_a.reshape(1 if single else len(map_a), -1)                    # (n, h*w)
    rows_b = map_b.reshape(rows_a.shape)
    ranks_a = scipy.stats.rankdata(rows_a, axis=1)
    ranks_b = scipy.stats.rankdata(rows_b, axis=1)
    centred_a = ranks_a - ranks_a.mean(axis=1, keepdims=True)
    centred_b = ranks_b - ranks_b.mean(axis=1, keepdims=True)
    norms = np.sqrt((centred_a ** 2).sum(axis=1) * (centred_b ** 2).sum(axis=1))  # (n,), 0 for a constant map
    correlations = np.divide((centred_a * centred_b).sum(axis=1), norms,
                             out=np.zeros(len(norms)), where=norms > 0)
    return float(correlations[0]) if single else correlations


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


def cascading_randomization(model, layer_names, seed=0):
    """Yield ``(layer_name, randomized_model)``: the named layers re-initialized from the top down.

    The layers are taken from the output towards the input, whatever the order of
    ``layer_names``; at step k the k top-most of them carry fresh random weights (cumulative,
    as in Adebayo et al.'s cascading randomization) and every other layer keeps its trained
    weights. Each step yields a new clone, so the steps can be kept side by side; ``model``
    itself is never changed. ``seed`` seeds Keras' random generators once, before the first step.
    """
    positions = {layer.name: index for index, layer in enumerate(model.layers)}
    with_weights = [layer.name for layer in model.layers if layer.weights]
    unknown = [name for name in layer_names if name not in with_weights]
    if unknown:
        raise ValueError(f"layers {unknown} are not layers with weights of '{model.name}'; "
                         f"those are: {', '.join(with_weights)}")
    keras.utils.set_random_seed(seed)
    randomized = model
    for name in sorted(layer_names, key=positions.get, reverse=True):
        randomized = _copy_of(randomized)
        _reinitialize(randomized.get_layer(name))
        yield name, randomized


# --- Faithfulness: deletion and insertion curves ---------------------------------------------

def _check_image_and_map(image, saliency_map):
    """Raise ValueError unless ``image`` is (h, w, c) and ``saliency_map`` is (h, w)."""
    if np.ndim(image) != 3 or np.shape(saliency_map) != np.shape(image)[:2]:
        raise ValueError(f"expected an image (h, w, c) and a map (h, w) of the same size, got {np.shape(image)} "
                         f"and {np.shape(saliency_map)}; upsample the map to the image's size first")


def _perturbation_curve(model, label, start_image, end_image, saliency_map, steps):
    """Class probabilities (steps + 1,) as pixels switch from ``start_image`` to ``end_image``.

    At step k (k = 0 … steps) the round(k / steps · h·w) most salient pixels come from
    ``end_image`` and the rest from ``start_image``; all steps are one batch, one model call.
    """
    height, width = saliency_map.shape
    order = np.argsort(-saliency_map.ravel(), kind="stable")               # most salient first
    rank = np.empty(height * width, dtype=np.int64)
    rank[order] = np.arange(height * width)                                   # rank of each pixel
    counts = np.round(np.linspace(0, 1, steps + 1) * height * width)        # (steps + 1,) pixels switched
    switched = rank.reshape(1, height, width) < counts[:, None, None]       # (steps + 1, h, w)
    batch = np.where(switched[..., None], end_image[None], start_image[None]).astype(np.float32)
    outputs = keras.ops.convert_to_numpy(model(batch, training=False))       # (steps + 1, classes)
    probabilities = outputs if _looks_like_probabilities(outputs) else softmax(outputs)
    return np.asarray(probabilities[:, label], dtype=np.float64)


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
    if baseline is None:
        baseline = scipy.ndimage.gaussian_filter(image, sigma=(_BLUR_SIGMA_PIXELS, _BLUR_SIGMA_PIXELS, 0))
    start_image = np.broadcast_to(np.asarray(baseline, dtype=np.float32), image.shape)
    return _perturbation_curve(model, label, start_image, image, np.asarray(saliency_map), steps)


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
