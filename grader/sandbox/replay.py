"""Recorded reference answers for the hidden tests that run inside the sandboxed kernel.

The hidden tests compare a student's function with :mod:`grader.reference` on the notebook's
own inputs. Inside the sandbox (:mod:`grader.sandbox.namespaces`) the kernel must not see the reference
code, so the grader first runs the solution notebook in its own trusted process with
``COURSE_REFERENCE_RECORD=table.json``: :func:`record` wraps the reference functions and saves
every call – a fingerprint of its arguments and the answer. In the sandbox, ``grader.reference``
is a stub that only looks answers up in that table (:func:`replay_attribute`).

A student who reads the table learns the answers for the hidden tests' inputs and nothing
else; the independent check (:mod:`grader.checks`) draws new inputs on every run, so such
answers gain nothing. Where a few answers would give the function away (lesson 01's CAM is
linear in a 3×3 map: ten full 28×28 answers determine its whole upsampling, and least squares
then passes the independent check), the table keeps only a few pixels of each answer, drawn at
random when it is recorded (``revealed``), and the hidden tests get a masked array that compares
on those pixels only. This file is copied into the sandbox: what runs there imports numpy only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

RECORD_VARIABLE = "COURSE_REFERENCE_RECORD"
TABLE_VARIABLE = "COURSE_REFERENCE_TABLE"


def _sketch(array):
    """A few weighted sums that tell two arrays apart (robust to float round-off)."""
    flat = array.ravel()
    index = np.arange(flat.size, dtype=np.float64)
    return [float(flat.sum()), float(np.abs(flat).sum()), float(flat @ np.sin(0.7 * index + 0.1)),
            float(flat @ np.cos(1.3 * index))]


def fingerprint(value: object) -> list:
    """A JSON-able description of one argument: models by architecture, arrays by shape and sketch."""
    if hasattr(value, "count_params") and hasattr(value, "layers"):
        return ["model", len(value.layers), int(value.count_params())]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (bool, int, np.integer)):
        return ["int", int(value)]
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return ["other", type(value).__name__]
    return ["array", list(array.shape), _sketch(array)]


def _same(recorded, given):
    if recorded[0] != given[0]:
        return False
    if recorded[0] != "array":
        return recorded == given
    if recorded[1] != given[1]:
        return False
    scale = max(abs(recorded[2][1]), 1e-12)
    return all(abs(a - b) <= 1e-5 * scale for a, b in zip(recorded[2], given[2]))


def _call_fingerprint(args, kwargs):
    return {"args": [fingerprint(a) for a in args],
            "kwargs": {name: fingerprint(value) for name, value in kwargs.items()}}


def _matches(recorded, given):
    if len(recorded["args"]) != len(given["args"]) or sorted(recorded["kwargs"]) != sorted(given["kwargs"]):
        return False
    pairs = list(zip(recorded["args"], given["args"]))
    pairs += [(recorded["kwargs"][name], given["kwargs"][name]) for name in recorded["kwargs"]]
    return all(_same(r, g) for r, g in pairs)


def _answer(array, revealed):
    """What the table keeps of one answer: every value, or ``revealed`` values at random places."""
    values = array.astype(np.float64).ravel()
    if revealed is None or revealed >= values.size:
        return {"answer": values.tolist()}
    places = np.sort(np.random.default_rng().choice(values.size, size=revealed, replace=False))
    return {"answer": values[places].tolist(), "revealed": places.tolist()}


def _write_atomically(path, text):
    """Write ``text`` into a temporary file beside ``path``, then move it there: a reader sees the old
    table or the new one, never half of one (this file imports numpy only, so not helpers.write_atomically)."""
    path = Path(path)
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with open(temporary, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def record(namespace: dict, names: list[str], path: str | Path, revealed: dict[str, int] | None = None) -> None:
    """Wrap the functions ``names`` of ``namespace`` so that every call is appended to ``path``;
    ``revealed`` maps a name to how many values of each of its answers the table keeps (default: all)."""

    def wrap(name, function):
        def recorded(*args, **kwargs):
            answer = function(*args, **kwargs)
            array = np.asarray(answer)
            entry = {"function": name, "arguments": _call_fingerprint(args, kwargs), "shape": list(array.shape),
                     "dtype": str(array.dtype), **_answer(array, (revealed or {}).get(name))}
            table = json.loads(open(path).read()) if os.path.exists(path) else []
            table.append(entry)
            _write_atomically(path, json.dumps(table))
            return answer

        recorded.__name__, recorded.__doc__ = function.__name__, function.__doc__
        return recorded

    for name in names:
        namespace[name] = wrap(name, namespace[name])


def _replayed(entry):
    """The recorded answer: an array, or a masked array whose unmasked values are the revealed ones
    (``numpy.allclose`` and ``max`` then look at those only)."""
    if "revealed" not in entry:
        return np.array(entry["answer"], dtype=entry["dtype"]).reshape(entry["shape"])
    size = int(np.prod(entry["shape"]))
    values, hidden = np.zeros(size), np.ones(size, dtype=bool)
    values[entry["revealed"]], hidden[entry["revealed"]] = entry["answer"], False
    return np.ma.MaskedArray(values.reshape(entry["shape"]), mask=hidden.reshape(entry["shape"])).astype(entry["dtype"])


def replay_attribute(name: str) -> Callable:
    """Module ``__getattr__`` of the sandbox's ``grader.reference``: a function that replays ``name``."""
    if name.startswith("__"):
        raise AttributeError(name)
    with open(os.environ[TABLE_VARIABLE]) as handle:
        table = [entry for entry in json.load(handle) if entry["function"] == name]
    if not table:
        raise AttributeError(f"the grader recorded no reference answers for {name!r}")

    def replay(*args, **kwargs):
        given = _call_fingerprint(args, kwargs)
        for entry in table:
            if _matches(entry["arguments"], given):
                return _replayed(entry)
        raise LookupError(f"the grader has no reference answer for {name} on these inputs: "
                          "did a cell that prepares the test's inputs change?")

    replay.__name__ = name
    return replay
