"""Read a submitted notebook without trusting it: the one reader for every place that does.

A submission is whatever a student uploaded. Before any code relies on its JSON, the file is
checked in this order, and the first failure is a :class:`NotANotebook` whose text is a
one-line reason ("cells[3].metadata.nbgrader is an array, not an object"):

1. size: at most :data:`MAX_NOTEBOOK_BYTES`, known from a stat before anything is read;
2. UTF-8, decoded strictly (as Jupyter reads a notebook);
3. JSON: the parser's own recursion guard (RecursionError) and MemoryError are caught, then
   arrays and objects may be nested at most :data:`MAX_NESTING` levels deep (its brackets
   outside strings counted);
4. no escaped lone surrogate (``"\\ud800"``): such a string cannot be written back as UTF-8;
5. the JSON types later code relies on: an object with ``cells`` an array of at most
   :data:`MAX_CELLS` objects, each with ``source`` a string or an array of strings,
   ``metadata`` an object, ``metadata.nbgrader`` an object whose ``grade_id`` is a string,
   ``grade``, ``solution``, ``locked`` and ``task`` booleans and ``points`` a number; the
   notebook's ``metadata`` an object and ``nbformat`` 4;
6. (:func:`read_notebook` only) nbformat's reading and schema validation.

:func:`load` (steps 1-5) tells :func:`grader.intake.lms.recognize` which notebook a file of a Canvas or
Moodle download is; :func:`read_notebook` reads every submission before it is graded
(:func:`grader.pipeline.autograde._read_notebook`, all layouts).
"""

from __future__ import annotations

import json
import os
import re
import warnings

import nbformat
import numpy as np
from nbformat.warnings import DuplicateCellId, MissingIDFieldWarning

# nbformat repairs a submission's duplicate or missing cell ids as it reads it, and warns on the
# grader's terminal each time: nothing the instructor must act on (the repaired notebook is graded).
warnings.filterwarnings("ignore", category=DuplicateCellId)
warnings.filterwarnings("ignore", category=MissingIDFieldWarning)

# The course's executed solution notebooks, images included, are 0.4-1.3 MB (a student's copy
# is the same notebook run again): 20 MiB is 16 times the largest, and a file above it is not
# read at all. A 20 MiB JSON file becomes at most about 0.5 GB of Python objects while checked.
MAX_NOTEBOOK_BYTES = 20 * 2**20
# The course's notebooks are nested 5 (students') to 10 (solutions, with widget state) levels
# deep. 100 leaves room for any real output and keeps nbformat's and jsonschema's recursive
# code far from Python's recursion limit (1000).
MAX_NESTING = 100
# The course's notebooks have 30-40 cells; 10,000 is 250 times that. Each cell costs nbformat's
# validation (about 40 microseconds) and, when graded, a kernel round trip.
MAX_CELLS = 10_000

NBGRADER_FIELDS = (("grade_id", (str,), "a string"), ("grade", (bool,), "a boolean"),
                   ("solution", (bool,), "a boolean"), ("locked", (bool,), "a boolean"),
                   ("task", (bool,), "a boolean"), ("points", (int, float), "a number"))
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


class NotANotebook(ValueError):
    """A submitted file that cannot be read as a notebook; its text is the reason, one line."""


def _json_kind(value):
    """What ``value`` is, in JSON's words: "an object", "an array", "a string", ..."""
    for types, kind in ((bool, "a boolean"), (dict, "an object"), (list, "an array"), (str, "a string"),
                        ((int, float), "a number")):
        if isinstance(value, types):
            return kind
    return "null"


def _expect(value, types, where, wanted):
    """Raise :class:`NotANotebook` unless ``value`` (found at ``where``) is one of ``types``."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise NotANotebook(f"{where} is {_json_kind(value)}, not {wanted}")


def _read_bytes(path):
    """The file's bytes: :class:`NotANotebook` when it has more than :data:`MAX_NOTEBOOK_BYTES`."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(MAX_NOTEBOOK_BYTES + 1) if size <= MAX_NOTEBOOK_BYTES else b""
    except OSError as error:
        raise NotANotebook(f"the file cannot be read ({error.strerror or error})") from None
    size = max(size, len(data))
    if size > MAX_NOTEBOOK_BYTES:
        raise NotANotebook(f"the file has {size:,} bytes, more than the {MAX_NOTEBOOK_BYTES:,} "
                           f"({MAX_NOTEBOOK_BYTES // 2**20} MiB) a notebook may have")
    return data


def _decode(data):
    """``data`` as text, strictly UTF-8 (as Jupyter reads a notebook)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotANotebook(f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}") from None


def _parse(data, text):
    """``text`` (``data`` decoded) as JSON, no deeper than :data:`MAX_NESTING`, without escaped
    lone surrogates."""
    too_deep = f"its JSON is nested more than {MAX_NESTING} levels deep"
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise NotANotebook(too_deep) from None
    except MemoryError:
        raise NotANotebook("its JSON does not fit in memory") from None
    except ValueError:   # nbformat's words, which the grades of files that are not JSON have always had
        message = f"Notebook does not appear to be JSON: {text[:80]!r}"
        raise NotANotebook(message[:77] + "..." if len(message) > 80 else message) from None
    if _nesting_exceeds(data, MAX_NESTING):
        raise NotANotebook(too_deep)
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise NotANotebook("a string holds a lone surrogate escape, \\ud800-\\udfff without its pair, "
                               "which is no character") from None
    return parsed


def _nesting_exceeds(data, limit):
    """Whether the arrays and objects of the JSON text ``data`` (bytes that parse) are nested more
    than ``limit`` levels: the running count of the brackets outside strings, at C speed (at most
    0.6 s for 20 MiB; walking the parsed objects in Python took 10 s)."""
    brackets = np.frombuffer(JSON_STRING.sub(b"", data).translate(None, NOT_BRACKETS), dtype=np.uint8)
    opening = (brackets == ord("[")) | (brackets == ord("{"))
    depth = np.cumsum(np.where(opening, np.int8(1), np.int8(-1)), dtype=np.int32)
    return bool(depth.size) and int(depth.max()) > limit


def _check_cell(cell, where):
    """Raise :class:`NotANotebook` unless the cell at ``where`` has the types the grader relies on."""
    _expect(cell, dict, where, "an object")
    source = cell.get("source", "")
    if isinstance(source, list):
        for index, line in enumerate(source):
            _expect(line, str, f"{where}.source[{index}]", "a string")
    else:
        _expect(source, str, f"{where}.source", "a string or an array of strings")
    metadata = cell.get("metadata", {})
    _expect(metadata, dict, f"{where}.metadata", "an object")
    nbgrader = metadata.get("nbgrader", {})
    _expect(nbgrader, dict, f"{where}.metadata.nbgrader", "an object")
    for field, types, wanted in NBGRADER_FIELDS:
        if field in nbgrader:
            _expect(nbgrader[field], types, f"{where}.metadata.nbgrader.{field}", wanted)


def check_structure(data: object) -> None:
    """Raise :class:`NotANotebook` unless the parsed ``data`` has the JSON types the grader
    relies on (step 5 of the module's docstring)."""
    _expect(data, dict, "the file", "an object")
    if "cells" not in data:
        raise NotANotebook('it has no "cells" (not a notebook of nbformat 4)')
    cells = data["cells"]
    _expect(cells, list, "cells", "an array")
    if len(cells) > MAX_CELLS:
        raise NotANotebook(f"it has {len(cells):,} cells, more than the {MAX_CELLS:,} a notebook may have")
    for index, cell in enumerate(cells):
        _check_cell(cell, f"cells[{index}]")
    _expect(data.get("metadata", {}), dict, "metadata", "an object")
    version = data.get("nbformat")
    if not (isinstance(version, int) and not isinstance(version, bool) and version == 4):
        raise NotANotebook(f"its nbformat is {json.dumps(version)}, not 4 (Jupyter's notebook format)")


def _load_text_and_data(path):
    """``(text, parsed JSON)`` of the file at ``path``, checked (steps 1-5)."""
    data = _read_bytes(path)
    text = _decode(data)
    parsed = _parse(data, text)
    check_structure(parsed)
    return text, parsed


def load(path: str | os.PathLike) -> dict:
    """The notebook at ``path`` as checked JSON (a dict; steps 1-5), or :class:`NotANotebook`."""
    return _load_text_and_data(path)[1]


def read_notebook(path: str | os.PathLike) -> nbformat.NotebookNode:
    """The submission at ``path`` as an nbformat 4 notebook, checked (steps 1-5) and validated.

    Raises :class:`NotANotebook`, or nbformat's own errors for what its schema rejects (the
    checks before make sure its code gets the types it expects and no deep nesting).
    """
    text, _ = _load_text_and_data(path)
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    return notebook
