"""Independent checks: the student's functions, run on inputs the grader draws for this run,
judged against the references in the grader's own clean process.

nbgrader's tests run inside the student's kernel, where a submission can redefine
``numpy.allclose``, return objects whose ``==`` is always true, swallow exceptions or switch
off tracebacks. So, after the notebook has run, the grader appends one *capture* cell: it
replaces the globals the exercise reads with freshly drawn random inputs (a fixture written
for this run only), calls the student's function on each case and saves plain float arrays.
The grader then compares them with :mod:`grader.reference` outside the kernel. A test's final
points are the lower of nbgrader's result and this check's, so a trick that fools the
in-kernel test gains nothing.

Each graded notebook declares its check in ``CHECKS``; a notebook without one is scored by
nbgrader's tests alone.
"""

import functools
import hashlib
import inspect
import io
import math
import os
import stat
import threading
import warnings
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader import reference

CAPTURE_TEMPLATE = '''
# Added by the grader: the independent check (see grader/checks/capture.py). Not part of your notebook.
{prelude}
def _grader_capture():
    import numpy
    import matplotlib.pyplot as pyplot
    fixture = dict(numpy.load({fixture!r}))
    names = globals()
    for name in {replaced!r}:
        names[name] = fixture[name]
    function = names[{function!r}]
    outputs = {{}}
    for case in range(len(fixture["cases"])):
        try:
            value = {call}
            outputs["case_%d" % case] = numpy.array(value, dtype=numpy.float64)
        except BaseException:
            pass
        pyplot.close("all")
    numpy.savez({output!r}, **outputs)

_grader_capture()
'''


@dataclass
class Check:
    """How to draw inputs for one exercise, call it, and judge each graded test cell."""

    function: str                      # the student's function, e.g. "show_cam"
    replaced: tuple                    # globals the capture cell overwrites with the fixture's
    call: str                          # the call of case `case`: uses `function`, `names`, `fixture`, `case`
    make_fixture: Callable             # rng -> dict of arrays (must contain "cases")
    judge: Callable                    # (fixture, outputs) -> {grade_id: fraction of points earned}
    largest_output: Callable           # (fixture, case) -> the largest shape case `case`'s output can have and
                                       #   still be judged right: bounds what the grader reads (see read_capture)
    prelude: str = ""                  # code the capture cell defines first (helpers for `call`)


def capture_cell_source(check, fixture_path, output_path):
    """The code of the capture cell for ``check``."""
    return CAPTURE_TEMPLATE.format(fixture=str(fixture_path), replaced=tuple(check.replaced), prelude=check.prelude,
                                   function=check.function, call=check.call, output=str(output_path))


def _close(answer, expected):
    if answer is None or answer.shape != expected.shape or not np.all(np.isfinite(answer)):
        return False
    return bool(np.allclose(answer, expected, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max()))))


# ---------------------------------------------------------------- 01 · show_cam

def _cam_fixture(rng, cases=8):
    """Random CAM inputs: ReLU-like features, softmax results, weights; half the digits misclassified."""
    logits = rng.normal(scale=3.0, size=(cases, 10))
    results = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    predicted = results.argmax(axis=1)
    y_test = predicted.copy()
    y_test[cases // 2:] = (predicted[cases // 2:] + rng.integers(1, 10, size=cases - cases // 2)) % 10
    return {
        "features": np.maximum(rng.normal(size=(cases, 3, 3, 128)), 0).astype(np.float32),
        "results": results,
        "gap_weights": rng.normal(scale=0.3, size=(128, 10)).astype(np.float32),
        "X_test": rng.random((cases, 28, 28, 1), dtype=np.float32),
        "y_test": y_test.astype(np.int64),
        "cases": np.arange(cases),
    }


def _cam_judge(fixture, outputs):
    expected = [reference.show_cam_reference(i, fixture["features"], fixture["results"], fixture["gap_weights"])
                for i in fixture["cases"]]
    answers = [outputs.get(f"case_{i}") for i in fixture["cases"]]
    correct = fixture["results"].argmax(axis=1) == fixture["y_test"]
    shape_ok = all(a is not None and a.shape == (28, 28) and np.all(np.isfinite(a)) for a in answers)
    matches = np.array([_close(a, e) for a, e in zip(answers, expected)])
    return {
        "test_show_cam_shape": float(shape_ok),
        "test_show_cam_values": float(matches[correct].all()),
        "test_show_cam_predicted_class": float(matches[~correct].all()),
    }


# ---------------------------------------------------------------- 03 · get_CAM

# The notebook's LAYER_NAME and SECOND_LAYER_NAME: rectified outputs (ReLU6, A ≥ 0) as in the Grad-CAM paper,
# the last block's (7×7×1280) and the last one at 14×14 (14×14×672).
GRAD_CAM_LAYERS = ("top_activation", "block11_expand_activation")
GRAD_CAM_PHOTOS = ("chelsea", "coffee", "astronaut")


@functools.lru_cache(maxsize=1)
def cats_vs_dogs_model():
    """Lesson 03's model (:func:`helpers.models.cats_vs_dogs_classifier`), built once per process."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    from helpers.models import cats_vs_dogs_classifier

    return cats_vs_dogs_classifier()


def _grader_tiny_model(conv_weights, dense_weights, conv_bias=None):
    """The small Grad-CAM test network of the checks and the tests: (n, 6, 6, C) -> 3×3 conv + ReLU
    ``grader_features`` (n, 6, 6, K) -> global average pooling -> ``grader_scores`` (n, classes).

    ``conv_weights`` (3, 3, C, K), ``dense_weights`` (K, classes), ``conv_bias`` (K,) or None
    (zeros); the dense bias is zero. Copied into the capture cell, so it is built the same way
    in the kernel and here."""
    import keras
    import numpy

    channels, classes = conv_weights.shape[-1], dense_weights.shape[-1]
    inputs = keras.Input((6, 6, conv_weights.shape[-2]))
    features = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="grader_features")(inputs)
    scores = keras.layers.Dense(classes, name="grader_scores")(keras.layers.GlobalAveragePooling2D()(features))
    tiny_model = keras.Model(inputs, scores, name="grader_tiny")
    bias = numpy.zeros(channels) if conv_bias is None else conv_bias
    tiny_model.get_layer("grader_features").set_weights(
        [numpy.asarray(conv_weights, numpy.float32), numpy.asarray(bias, numpy.float32)])
    tiny_model.get_layer("grader_scores").set_weights(
        [numpy.asarray(dense_weights, numpy.float32), numpy.zeros(classes, numpy.float32)])
    return tiny_model


GRAD_CAM_CALL_SOURCE = '''
def _grader_call(names, function, fixture, case):
    """Photo cases call get_CAM as it is; the last cases swap in a small network for `model`."""
    photos = len(fixture["labels"])
    if case < photos:
        return function(fixture["images"][case:case + 1], int(fixture["labels"][case]), str(fixture["layers"][case]))
    tiny = case - photos
    saved_model = names.get("model")
    names["model"] = _grader_tiny_model(fixture["tiny_conv"], fixture["tiny_dense"])
    try:
        return function(fixture["tiny_images"][tiny:tiny + 1], int(fixture["tiny_labels"][tiny]), "grader_features")
    finally:
        names["model"] = saved_model
'''


@functools.lru_cache(maxsize=1)
def _grad_cam_photos():
    """The packaged photos, (3, 224, 224, 3) uint8, read once per process."""
    from helpers.images import sample_photo

    return np.stack([sample_photo(name) for name in GRAD_CAM_PHOTOS])


_REMEMBERED, _REMEMBERED_LOCK = {}, threading.Lock()


def _remembered(key, compute):
    """``compute()``, done once per process for each ``key`` (a class draws the same few photos
    again and again, in new orders and mirrorings); one call at a time: the grader's threads
    share one model."""
    with _REMEMBERED_LOCK:
        if key not in _REMEMBERED:
            _REMEMBERED[key] = compute()
        return _REMEMBERED[key]


def _grad_cam_fixture(rng):
    """The packaged photos in a random order, some mirrored; both labels for each; a random layer each.
    Then two cases on a small network with positive filters whose class ``negative`` has only
    negative weights: that class's map must be all zeros (no NaN), the other its Grad-CAM."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    from helpers.models import imagenet_preprocess

    order = rng.permutation(len(GRAD_CAM_PHOTOS))
    photos = _grad_cam_photos()[order]                                     # a copy: fancy indexing
    flips = rng.random(len(photos)) < 0.5
    photos[flips] = photos[flips, :, ::-1]
    images = imagenet_preprocess(photos)                                   # (3, 224, 224, 3)
    cases = len(images) * 2
    channels, negative = int(rng.integers(3, 7)), int(rng.integers(0, 2))
    dense = rng.uniform(0.5, 1.0, (channels, 2))
    dense[:, negative] *= -1
    return {
        "images": np.repeat(images, 2, axis=0),                            # (6, 224, 224, 3)
        "labels": np.tile([0, 1], len(images)),
        "layers": np.array([GRAD_CAM_LAYERS[i] for i in rng.integers(0, 2, size=cases)]),
        "tiny_conv": rng.uniform(0.1, 1.0, (3, 3, 3, channels)).astype(np.float32),
        "tiny_dense": dense.astype(np.float32),
        "tiny_images": rng.uniform(0.0, 1.0, (2, 6, 6, 3)).astype(np.float32),
        "tiny_labels": np.array([negative, 1 - negative]),
        "cases": np.arange(cases + 2),
    }


def _grad_cam_judge(fixture, outputs):
    with warnings.catch_warnings():
        # Keras warns when a model built on `model.inputs` (a list) is called with one tensor; harmless.
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        return _grad_cam_scores(fixture, outputs)


def _grad_cam_scores(fixture, outputs):
    model = cats_vs_dogs_model()
    shape_ok, matches, is_top = True, [], []
    for case in range(len(fixture["labels"])):
        layer = str(fixture["layers"][case])
        image, label = fixture["images"][case:case + 1], int(fixture["labels"][case])
        photo = hashlib.sha1(image.tobytes()).hexdigest()
        top = _remembered(photo, lambda: int(np.asarray(model.predict(image, verbose=0)).argmax(axis=1)[0]))
        is_top.append(label == top)
        expected = _remembered((photo, label, layer, "float32"),
                               lambda: reference.grad_cam(model, image, [label], layer)[0])
        precise = _remembered((photo, label, layer, "float64"),
                              lambda: reference.grad_cam(model, image, [label], layer, dtype=np.float64)[0])
        # Where the class barely registers, Σ_k α_k A^k is a near-cancelling sum and float32 noise
        # shows after normalization: widen the tolerance by the noise measured against float64.
        noise = float(np.abs(precise - expected).max())
        tolerance = 1e-4 + 10 * noise
        answer = outputs.get(f"case_{case}")
        if answer is None or answer.shape != expected.shape or not np.all(np.isfinite(answer)) or answer.min() < 0:
            shape_ok = False
            matches.append(False)
            continue
        shape_ok &= bool(abs(answer.max() - expected.max()) < max(1e-3, tolerance))   # 1, or 0 if nothing is positive
        scaled = answer / answer.max() if answer.max() > 0 else answer
        matches.append(bool(np.allclose(scaled, expected, atol=tolerance)))
    matches, is_top = np.array(matches), np.array(is_top)
    return {
        "test_get_CAM_shape_and_range": float(shape_ok),
        "test_get_CAM_predicted_class": float(matches[is_top].all()),
        "test_get_CAM_other_class": float(matches[~is_top].all()),
        "test_get_CAM_nothing_positive": float(_tiny_cases_right(fixture, outputs)),
    }


def _tiny_cases_right(fixture, outputs):
    """The small network's cases: zeros (not NaN) for the negative class, its Grad-CAM (up to scale:
    normalization is test_get_CAM_shape_and_range's business) for the other."""
    import helpers.quiet  # noqa: F401  (TensorFlow's start-up lines kept off the grader's terminal)
    tiny_model = _grader_tiny_model(fixture["tiny_conv"], fixture["tiny_dense"])
    for tiny, label in enumerate(fixture["tiny_labels"]):
        answer = outputs.get(f"case_{len(fixture['labels']) + tiny}")
        expected = reference.grad_cam(tiny_model, fixture["tiny_images"][tiny:tiny + 1], [int(label)],
                                      "grader_features")[0]
        if answer is None or answer.shape != expected.shape or not np.all(np.isfinite(answer)):
            return False
        scaled = answer / answer.max() if answer.max() > 0 else answer
        if not np.allclose(scaled, expected, atol=1e-4):
            return False
    return True


def _grad_cam_largest_output(fixture, case):
    """A Grad-CAM map has its layer's resolution, never more than its image's: (224, 224) for the
    photos (the layers of GRAD_CAM_LAYERS give 7×7 or 14×14), (6, 6) for the small network's cases."""
    images = fixture["images"] if case < len(fixture["labels"]) else fixture["tiny_images"]
    return images.shape[1:3]


CHECKS = {
    "01_mnist_cam": Check(
        function="show_cam",
        replaced=("features", "results", "gap_weights", "X_test", "y_test"),
        call="function(int(case))",
        make_fixture=_cam_fixture,
        judge=_cam_judge,
        largest_output=lambda fixture, case: fixture["X_test"].shape[1:3],       # (28, 28), the digit's size
    ),
    "03_cats_dogs_gradcam": Check(
        function="get_CAM",
        replaced=(),
        call="_grader_call(names, function, fixture, case)",
        make_fixture=_grad_cam_fixture,
        judge=_grad_cam_judge,
        largest_output=_grad_cam_largest_output,
        prelude=inspect.getsource(_grader_tiny_model) + GRAD_CAM_CALL_SOURCE,
    ),
}


def write_fixture(assignment, path, seed=None):
    """Draw this run's inputs for ``assignment``, save them to ``path`` (.npz) and return them."""
    rng = np.random.default_rng(seed)
    fixture = CHECKS[assignment].make_fixture(rng)
    np.savez(path, **fixture)
    return fixture


# ---------------------------------------------------------------- reading the capture file

# The capture file is written in the student's kernel, so everything in it is the student's to choose:
# a zip member's declared size, an .npy header's shape and dtype (numpy allocates the declared shape
# before reading, and a deflated member of zeros declares about 1000 times its size). It is checked
# against what the fixture asked for before anything is decompressed.
NPY_HEADER_SLACK = 4096       # bytes an .npy header may take (np.save writes 128 for these arrays)
ZIP_SLACK_PER_MEMBER = 1024   # a member's local and central headers, zip64 extras, data descriptor (np.savez: ~200)


def capture_limits(check, fixture):
    """``({member name: most elements it may hold}, most bytes the file may hold)`` for ``fixture``:
    one ``case_<n>.npy`` per case, each of at most ``check.largest_output`` float64 values."""
    elements = {f"case_{int(case)}.npy": math.prod(int(size) for size in check.largest_output(fixture, int(case)))
                for case in fixture["cases"]}
    file_bytes = sum(8 * count + NPY_HEADER_SLACK + ZIP_SLACK_PER_MEMBER for count in elements.values())
    return elements, file_bytes + ZIP_SLACK_PER_MEMBER


def _read_at_most(path, limit):
    """The bytes of the regular file ``path`` if there are at most ``limit`` of them, else None.

    Opened non-blocking and checked to be a regular file, so a FIFO or device is never waited on;
    at most ``limit + 1`` bytes are read whatever the file's size."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        data = b""
        while len(data) <= limit:
            chunk = os.read(descriptor, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return data if len(data) <= limit else None


def _read_member(archive, info, most_elements):
    """Member ``info``'s float64 array, or None unless it holds at most ``most_elements`` values.

    Before decompressing anything: its declared size, then its .npy header (read alone) must fit;
    then exactly the bytes the header announces are read (zipfile returns at most what it asked for,
    and never more than the declared size) and must be all there is. Whatever the member holds,
    nothing above these bounds is allocated and no exception escapes: a bad member is a missing one."""
    if (info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1
            or info.file_size > 8 * most_elements + NPY_HEADER_SLACK):
        return None
    try:
        with archive.open(info) as stream:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                return None
            shape, fortran_order, dtype = read_header(stream, max_header_size=NPY_HEADER_SLACK)
            if dtype != np.dtype(np.float64) or min(shape, default=0) < 0 or math.prod(shape) > most_elements:
                return None
            size = 8 * math.prod(shape)
            data = stream.read(size + 1)          # one byte more: a member must end with its array
        if len(data) != size:
            return None
        return np.frombuffer(data, np.float64).reshape(shape, order="F" if fortran_order else "C").copy()
    except Exception:   # anything a crafted member provokes (bad zip, CRC, header, nesting): missing
        return None


def read_capture(path, elements, file_bytes):
    """``{"case_<n>": float64 array}`` from the capture file, as :func:`capture_limits` bounds it.

    A file that is not a zip, larger than ``file_bytes`` or with more members than cases gives no
    outputs; a member not named for a case of the fixture, named twice, or failing
    :func:`_read_member`'s checks is left out (its case is missing, so it fails). Pickles are never
    loaded: only float64 headers are accepted."""
    data = _read_at_most(path, file_bytes)
    if data is None:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > len(elements):
                return {}
            names = [info.filename for info in members]
            outputs = {}
            for info in members:
                if info.filename in elements and names.count(info.filename) == 1:
                    array = _read_member(archive, info, elements[info.filename])
                    if array is not None:
                        outputs[info.filename[:-len(".npy")]] = array
            return outputs
    except Exception:   # not a zip, or a central directory zipfile refuses
        return {}


def judge(assignment, fixture, output_path):
    """``{grade_id: fraction of points}`` from the saved outputs; all zero when they are missing.

    ``fixture`` is the dict :func:`write_fixture` returned (the grader keeps it in memory, so a
    kernel that rewrites the file on disk changes nothing) or the path of the saved file. The
    capture file is read by :func:`read_capture`, within the bounds the fixture sets.
    """
    fixture = fixture if isinstance(fixture, dict) else dict(np.load(fixture))
    check = CHECKS[assignment]
    return check.judge(fixture, read_capture(output_path, *capture_limits(check, fixture)))
