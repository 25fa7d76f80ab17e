"""The generic part of an independent check: the capture cell and the reading of what it saved.

After the notebook has run, the grader appends one *capture* cell (:data:`CAPTURE_TEMPLATE`): it
replaces the globals the exercise reads with the fixture drawn for this run, calls the student's
function on each case and saves plain float arrays with ``numpy.savez``. What the exercise needs
is a :class:`Check`, declared by its module (see :mod:`grader.checks`). The capture file is
written in the student's kernel, so :func:`read_capture` reads it as hostile input, within the
bounds :func:`capture_limits` derives from the fixture.
"""

from __future__ import annotations

import io
import math
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def capture_cell_source(check: Check, fixture_path: Path | str, output_path: Path | str) -> str:
    """The code of the capture cell for ``check``."""
    return CAPTURE_TEMPLATE.format(fixture=str(fixture_path), replaced=tuple(check.replaced), prelude=check.prelude,
                                   function=check.function, call=check.call, output=str(output_path))


# ---------------------------------------------------------------- reading the capture file

# The capture file is written in the student's kernel, so everything in it is the student's to choose:
# a zip member's declared size, an .npy header's shape and dtype (numpy allocates the declared shape
# before reading, and a deflated member of zeros declares about 1000 times its size). It is checked
# against what the fixture asked for before anything is decompressed.
NPY_HEADER_SLACK = 4096       # bytes an .npy header may take (np.save writes 128 for these arrays)
ZIP_SLACK_PER_MEMBER = 1024   # a member's local and central headers, zip64 extras, data descriptor (np.savez: ~200)


def capture_limits(check: Check, fixture: dict[str, np.ndarray]) -> tuple[dict[str, int], int]:
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


def read_capture(path: Path | str, elements: dict[str, int], file_bytes: int) -> dict[str, np.ndarray]:
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

