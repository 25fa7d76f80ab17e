"""The offline ImageNet classifier: checkpoint reader, conversion, cache, predictions on real photos."""

import collections
import os
import pickle
import sys
import types

import numpy as np
import pytest

from helpers import _efficientnet_lite as efficientnet_lite
from helpers import imagenet, images, models


@pytest.fixture(scope="module")
def state_dict():
    """The package's checkpoint read with pickle + NumPy (about 0.2 s)."""
    return efficientnet_lite.read_legacy_torch_checkpoint(efficientnet_lite.checkpoint_path())


@pytest.fixture(scope="module")
def classifier():
    """``imagenet_classifier()`` once for the module (converted or read from the course cache)."""
    return models.imagenet_classifier(verbose=False)


def predict_probabilities(model, photos):
    """Softmax probabilities (n, 1000) of uint8 photos (n, 224, 224, 3)."""
    logits = model(models.imagenet_preprocess(photos), training=False).numpy()
    return imagenet.softmax(logits)


# ---------------------------------------------------------------- checkpoint reader

def test_checkpoint_has_the_documented_parameter_count(state_dict):
    assert len(state_dict) == 296
    counted = {name: array.size for name, array in state_dict.items() if not name.endswith("num_batches_tracked")}
    assert sum(counted.values()) == efficientnet_lite.NUM_PARAMETERS == 4_694_024  # as Keras counts them
    learned = sum(size for name, size in counted.items() if not name.endswith(("running_mean", "running_var")))
    assert learned == 4_652_008


def test_checkpoint_shapes_and_dtypes(state_dict):
    expected_shapes = {
        "_conv_stem.weight": (32, 3, 3, 3),
        "_bn0.running_var": (32,),
        "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3),
        "_blocks.0._project_conv.weight": (16, 32, 1, 1),
        "_blocks.1._expand_conv.weight": (96, 16, 1, 1),
        "_blocks.3._depthwise_conv.weight": (144, 1, 5, 5),
        "_blocks.15._project_conv.weight": (320, 1152, 1, 1),
        "_conv_head.weight": (1280, 320, 1, 1),
        "_fc.weight": (1000, 1280),
        "_fc.bias": (1000,),
    }
    for name, shape in expected_shapes.items():
        assert state_dict[name].shape == shape, name
    assert "_blocks.0._expand_conv.weight" not in state_dict  # block 0 has expand ratio 1
    assert state_dict["_fc.weight"].dtype == np.float32
    assert np.all(state_dict["_bn1.running_var"] > 0)
    assert np.all(np.isfinite(state_dict["_fc.weight"]))


def write_legacy_checkpoint(path, tensors):
    """Write ``{name: (storage array, offset, shape, stride)}`` in torch's legacy format, with a fake torch."""
    fake_torch, fake_utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    fake_torch.FloatStorage = FloatStorage

    def _rebuild_tensor_v2(*arguments):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    fake_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    fake_torch._utils = fake_utils

    class StorageReference(tuple):
        pass

    class TensorReference:
        def __init__(self, key, offset, shape, stride):
            self.arguments = (StorageReference((key,)), offset, shape, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.arguments)

    class LegacyPickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageReference):
                key = obj[0]
                return ("storage", FloatStorage, key, "cpu", tensors[key][0].size, None)
            return None

    saved_modules = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": fake_torch, "torch._utils": fake_utils})
    try:
        with open(path, "wb") as file:
            for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
                pickle.dump(header, file, protocol=2)
            state = collections.OrderedDict(
                (name, TensorReference(name, offset, shape, stride))
                for name, (_, offset, shape, stride) in tensors.items()
            )
            LegacyPickler(file, protocol=2).dump(state)
            pickle.dump(list(tensors), file, protocol=2)
            for storage, *_ in tensors.values():
                file.write(np.int64(storage.size).astype("<i8").tobytes())
                file.write(storage.astype("<f4").tobytes())
    finally:
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_reader_applies_offset_shape_and_stride(tmp_path):
    storage = np.arange(20, dtype=np.float32)
    path = tmp_path / "tiny.pth"
    write_legacy_checkpoint(path, {
        "plain": (storage, 0, (4, 5), (5, 1)),
        "transposed_view": (storage, 2, (3, 2), (1, 5)),  # non-contiguous, with an offset
    })
    result = efficientnet_lite.read_legacy_torch_checkpoint(path)
    np.testing.assert_array_equal(result["plain"], storage.reshape(4, 5))
    np.testing.assert_array_equal(result["transposed_view"], [[2, 7], [3, 8], [4, 9]])


def test_reader_refuses_code_in_the_pickle(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo never",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        pickle.dump(Exploit(), file, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="does not allow"):
        efficientnet_lite.read_legacy_torch_checkpoint(path)


# ---------------------------------------------------------------- the Keras model

def test_model_structure(classifier):
    assert classifier.count_params() == efficientnet_lite.NUM_PARAMETERS
    assert tuple(classifier.get_layer("top_conv").output.shape) == (None, 7, 7, 1280)
    assert classifier.get_layer("top_activation").__class__.__name__ == "ReLU"
    assert tuple(classifier.output.shape) == (None, 1000)
    assert classifier.layers[-1].activation.__name__ == "linear"  # logits, no softmax
    assert sum(layer.name.endswith("_add") for layer in classifier.layers) == 9  # residual blocks


def test_weights_are_transposed_from_the_checkpoint(classifier, state_dict):
    stem_kernel = classifier.get_layer("stem_conv").get_weights()[0]
    np.testing.assert_array_equal(stem_kernel[1, 2, 0, 5], state_dict["_conv_stem.weight"][5, 0, 1, 2])
    depthwise = classifier.get_layer("block03_depthwise_conv").get_weights()[0]
    assert depthwise.shape == (5, 5, 144, 1)
    np.testing.assert_array_equal(depthwise[4, 0, 7, 0], state_dict["_blocks.3._depthwise_conv.weight"][7, 0, 4, 0])
    gamma, beta, mean, variance = classifier.get_layer("top_bn").get_weights()
    np.testing.assert_array_equal(variance, state_dict["_bn1.running_var"])
    np.testing.assert_array_equal(classifier.get_layer("logits").get_weights()[0], state_dict["_fc.weight"].T)


def test_chelsea_is_a_cat(classifier):
    photo = images.sample_photo("chelsea")  # shorter side 224, centre crop
    probabilities = predict_probabilities(classifier, photo[None])[0]
    assert int(np.argmax(probabilities)) in imagenet.CAT_CLASSES
    assert probabilities[list(imagenet.CAT_CLASSES)].sum() > 0.5


def test_whole_chelsea_photo_is_an_egyptian_cat_above_one_half(classifier):
    import skimage.data
    from PIL import Image

    squashed = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((224, 224), Image.Resampling.BILINEAR))
    probabilities = predict_probabilities(classifier, squashed[None])[0]
    assert int(np.argmax(probabilities)) == imagenet.EGYPTIAN_CAT
    assert probabilities[imagenet.EGYPTIAN_CAT] > 0.5  # about 0.79, as /work/shared/OFFLINE.md reports


def test_coffee_is_espresso(classifier):
    probabilities = predict_probabilities(classifier, images.sample_photo("coffee")[None])[0]
    assert int(np.argmax(probabilities)) == imagenet.ESPRESSO
    assert probabilities[imagenet.ESPRESSO] > 0.5


def test_cache_is_written_read_and_rebuilt_when_corrupt(tmp_path, monkeypatch, capsys, classifier):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    photo = models.imagenet_preprocess(images.sample_photo("coffee")[None])
    expected = classifier(photo, training=False).numpy()

    models.imagenet_classifier()
    assert "converted from the package" in capsys.readouterr().out
    cache_file = efficientnet_lite.cached_weights_path()
    assert cache_file.parent == tmp_path and cache_file.is_file()
    assert not [path for path in tmp_path.iterdir() if ".tmp-" in path.name]  # no temporary left behind

    cached = models.imagenet_classifier()
    printed = capsys.readouterr().out
    assert f"loaded from the course cache ({cache_file.name})" in printed and str(tmp_path) not in printed
    np.testing.assert_allclose(cached(photo, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)

    with open(cache_file, "r+b") as file:  # flip bytes in the middle: HDF5 itself would not notice
        file.seek(cache_file.stat().st_size // 2)
        file.write(b"\x7f" * 4096)
    rebuilt = models.imagenet_classifier()
    assert "converted from the package" in capsys.readouterr().out
    np.testing.assert_allclose(rebuilt(photo, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)

    cache_file.write_bytes(b"not an HDF5 file")
    models.imagenet_classifier()
    assert "converted from the package" in capsys.readouterr().out


# ---------------------------------------------------------------- preprocessing and a read-only cache

def test_imagenet_preprocess_scaling():
    batch = np.zeros((2, 224, 224, 3), dtype=np.uint8)
    batch[1] = 255
    batch[0, 0, 0] = 127
    result = models.imagenet_preprocess(batch)
    assert result.dtype == np.float32 and result.shape == (2, 224, 224, 3)
    assert result[0, 0, 0, 0] == 0.0
    assert result[0, 1, 1, 0] == pytest.approx(-127 / 128)
    assert result[1, 5, 5, 2] == 1.0


@pytest.mark.parametrize("shape", [(224, 224, 3), (1, 224, 224), (1, 225, 224, 3), (1, 224, 224, 4)])
def test_imagenet_preprocess_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=r"\(n, 224, 224, 3\)"):
        models.imagenet_preprocess(np.zeros(shape, dtype=np.uint8))


def test_imagenet_preprocess_rejects_preprocessed_input():
    with pytest.raises(ValueError, match="preprocessed already"):
        models.imagenet_preprocess(np.full((1, 224, 224, 3), -0.5, dtype=np.float32))


def test_unwritable_cache_warns_and_still_returns_the_model(tmp_path, monkeypatch):
    def refuse(model, path):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(efficientnet_lite, "save_to_cache", refuse)
    with pytest.warns(UserWarning, match="could not cache"):
        model, source = efficientnet_lite.load_efficientnet_lite0(cache_path=tmp_path / "lite0.weights.h5")
    assert source == "converted" and model.count_params() == efficientnet_lite.NUM_PARAMETERS
