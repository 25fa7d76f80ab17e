"""The capture file is hostile input: the grader checks it against the shapes the fixture asked for
before anything is decompressed (issue 20, case 7). A bad member is a missing output (its case
fails), a bad file gives no outputs; never an exception, a loaded pickle, or a large allocation."""

import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from submissions.hostile_01 import BOMB_SAVEZ

from grader import checks, reference

ROOT = Path(__file__).resolve().parents[1]
CAM = "01_mnist_cam"
FULL = {"test_show_cam_shape": 1.0, "test_show_cam_values": 1.0, "test_show_cam_predicted_class": 1.0}
NOTHING = dict.fromkeys(FULL, 0.0)
CASE_0_MISSING = {**NOTHING, "test_show_cam_predicted_class": 1.0}   # case 0 is correctly classified
MIB_256 = (8192, 4096)                                                # float64: 256 MiB


@pytest.fixture
def cam(tmp_path):
    """``(fixture path, fixture, {case: the right (28, 28) map})``; cases 0-3 are classified right."""
    path = tmp_path / "fixture.npz"
    fixture = checks.write_fixture(CAM, path, seed=5)
    right = {int(i): reference.show_cam_reference(i, fixture["features"], fixture["results"], fixture["gap_weights"])
             for i in fixture["cases"]}
    return path, fixture, right


def _npy(array, **save):
    handle = io.BytesIO()
    np.save(handle, array, **save)
    return handle.getvalue()


def _header_only(shape, descr="<f8", tail=b"\0" * 16):
    """An .npy whose header declares ``shape`` of ``descr``, followed by only ``tail``."""
    handle = io.BytesIO()
    np.lib.format.write_array_header_2_0(handle, {"descr": descr, "fortran_order": False, "shape": shape})
    return handle.getvalue() + tail


def _zip(path, members, compression=zipfile.ZIP_STORED):
    """Write ``members`` (``(name, bytes)`` pairs, duplicates allowed) as a zip; returns ``path``."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression) as archive:
        warnings.simplefilter("ignore")   # zipfile warns of a duplicate name
        for name, data in members:
            archive.writestr(name, data)
    return path


def _members(right, **replaced):
    """The right members, with ``case_<n>=bytes`` replaced (or dropped when None)."""
    members = {f"case_{case}": _npy(value) for case, value in right.items()}
    members.update(replaced)
    return [(f"{name}.npy", data) for name, data in members.items() if data is not None]


def _judged_with_peak(fixture_path, capture):
    """``(judge's answer, peak bytes numpy and Python allocated meanwhile)`` (tracemalloc sees numpy's data)."""
    fixture = dict(np.load(fixture_path))
    tracemalloc.start()
    try:
        answer = checks.judge(CAM, fixture, capture)
        return answer, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_correct_capture_is_judged_right_stored_or_deflated(tmp_path, cam):
    path, _, right = cam
    np.savez(tmp_path / "saved.npz", **{f"case_{i}": v for i, v in right.items()})   # as the capture cell
    assert checks.judge(CAM, path, tmp_path / "saved.npz") == FULL
    _zip(tmp_path / "deflated.npz", _members(right), zipfile.ZIP_DEFLATED)
    assert checks.judge(CAM, path, tmp_path / "deflated.npz") == FULL


def test_the_limits_follow_the_fixture():
    cam_fixture = checks.CHECKS[CAM].make_fixture(np.random.default_rng(0))
    elements, file_bytes = checks.capture_limits(checks.CHECKS[CAM], cam_fixture)
    assert elements == {f"case_{i}.npy": 28 * 28 for i in range(8)} and file_bytes < 100_000
    grad_cam = {"images": np.zeros((6, 224, 224, 3)), "labels": np.tile([0, 1], 3),
                "tiny_images": np.zeros((2, 6, 6, 3)), "cases": np.arange(8)}
    elements, file_bytes = checks.capture_limits(checks.CHECKS["03_cats_dogs_gradcam"], grad_cam)
    assert [elements[f"case_{i}.npy"] for i in range(8)] == [224 * 224] * 6 + [36] * 2 and file_bytes < 3_000_000


@pytest.mark.parametrize("shape", [MIB_256, (2**20, 2**20)], ids=["256MiB", "8TiB"])
def test_a_header_declaring_a_huge_shape_is_a_missing_output(tmp_path, cam, shape):
    path, _, right = cam
    capture = _zip(tmp_path / "capture.npz", _members(right, case_0=_header_only(shape)))
    answer, peak = _judged_with_peak(path, capture)
    assert peak < 16 * 2**20
    assert answer == CASE_0_MISSING


def _with_declared_size(data, name, file_size):
    """The zip ``data`` with member ``name``'s uncompressed size in the central directory set to ``file_size``."""
    start = data.index(b"PK\x01\x02")                    # the first central directory header
    while True:
        length = struct.unpack("<H", data[start + 28:start + 30])[0]
        if data[start + 46:start + 46 + length] == name.encode():
            return data[:start + 24] + struct.pack("<I", file_size) + data[start + 28:]
        start = data.index(b"PK\x01\x02", start + 4)


def test_a_member_declaring_a_huge_size_is_a_missing_output(tmp_path, cam):
    path, _, right = cam
    honest = _zip(tmp_path / "honest.npz", _members(right)).read_bytes()
    capture = tmp_path / "capture.npz"
    capture.write_bytes(_with_declared_size(honest, "case_0.npy", 0xFFFF_FFF0))
    assert zipfile.ZipFile(capture).getinfo("case_0.npy").file_size == 0xFFFF_FFF0
    answer, peak = _judged_with_peak(path, capture)
    assert answer == CASE_0_MISSING and peak < 16 * 2**20


class _Touch:
    """Unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("dtype", ["pickle", "float32", "int64", ">f8", "complex128", "subarray"])
def test_a_member_of_another_dtype_is_a_missing_output(tmp_path, cam, dtype):
    path, _, right = cam
    marker = tmp_path / "unpickled"
    if dtype == "pickle":
        bad = _npy(np.array([_Touch(marker)] * 784, dtype=object).reshape(28, 28), allow_pickle=True)
    elif dtype == "subarray":   # 784 "elements" of 1000 float64 each
        bad = _header_only((28, 28), descr=[("", "<f8", (1000,))], tail=b"")
    else:
        bad = _npy(right[0].astype(dtype))
    capture = _zip(tmp_path / "capture.npz", _members(right, case_0=bad))
    assert checks.judge(CAM, path, capture) == CASE_0_MISSING
    assert not marker.exists()


@pytest.mark.parametrize("extra", [("case_8.npy", "a case the fixture lacks"), ("notes.txt", "not an array")])
def test_more_members_than_cases_give_no_outputs(tmp_path, cam, extra):
    path, _, right = cam
    capture = _zip(tmp_path / "capture.npz", _members(right) + [(extra[0], _npy(right[0]))])
    assert checks.judge(CAM, path, capture) == NOTHING


@pytest.mark.parametrize("name", ["case_0", "case_00.npy", "Case_0.npy", "dir/case_0.npy", "case_8.npy"])
def test_a_misnamed_member_is_left_out(tmp_path, cam, name):
    path, _, right = cam
    capture = _zip(tmp_path / "capture.npz", _members(right, case_0=None) + [(name, _npy(right[0]))])
    assert checks.judge(CAM, path, capture) == CASE_0_MISSING


def test_a_name_given_twice_is_missing(tmp_path, cam):
    """Both ``case_4.npy`` members are left out (which one would count is zipfile's choice)."""
    path, _, right = cam
    capture = _zip(tmp_path / "capture.npz", _members(right, case_0=None) + [("case_4.npy", _npy(right[4]))])
    assert checks.judge(CAM, path, capture) == NOTHING   # cases 0 (right class) and 4 (wrong class) missing


def _with_comment(path, members, comment):
    with zipfile.ZipFile(_zip(path, members), "a") as archive:
        archive.comment = comment
    return path


@pytest.mark.parametrize("content", ["npy", "npy_256MiB", "pickle", "junk", "empty", "directory", "prefixed_1MiB",
                                     "comment_64KiB"])
def test_a_file_that_is_not_a_small_zip_gives_no_outputs(tmp_path, cam, content):
    """Not a zip (a bare .npy, a pickle, junk, nothing, a folder), or a right zip made too big
    (behind 1 MiB of zeros; with a 64 KiB comment: 116 KB, above 01's bound of about 91 KB)."""
    path, _, right = cam
    capture = tmp_path / "capture.npz"
    if content == "directory":
        capture.mkdir()
    elif content == "comment_64KiB":
        _with_comment(capture, _members(right), b"x" * 65535)
    else:
        capture.write_bytes({
            "npy": lambda: _npy(right[0]),
            "npy_256MiB": lambda: _header_only(MIB_256),
            "pickle": lambda: pickle.dumps(right),
            "junk": lambda: b"PK\x03\x04 not really a zip",
            "empty": lambda: b"",
            "prefixed_1MiB": lambda: bytes(2**20) + _zip(tmp_path / "right.npz", _members(right)).read_bytes(),
        }[content]())
    answer, peak = _judged_with_peak(path, capture)
    assert answer == NOTHING and peak < 16 * 2**20


MEASURE = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from grader import checks
    fixture = checks.write_fixture("01_mnist_cam", sys.argv[2], seed=5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answer = checks.judge("01_mnist_cam", fixture, sys.argv[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(before, after, sorted(set(answer.values())))
""")


def test_the_grader_stays_small_on_a_deflated_bomb(tmp_path):
    """The incident: 256 MiB of zeros deflated to ~260 KB, declared uint8 (numpy's float64 conversion
    then takes 2 GiB more). The grader's peak stays within 300 MB of its baseline."""
    bomb = tmp_path / "capture.npz"
    written = {}
    exec(BOMB_SAVEZ, written)   # what the battery's capture_bomb puts in place of numpy.savez
    written["_bomb_savez"](bomb)
    assert bomb.stat().st_size < 400_000
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", MEASURE, str(bomb), str(tmp_path / "fixture.npz")], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    before, after, values = result.stdout.split(maxsplit=2)
    assert values.strip() == "[0.0]"
    assert (int(after) - int(before)) * 1024 < 300 * 10**6, f"peak grew from {before} to {after} KiB"
