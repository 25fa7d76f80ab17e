"""How the grader speaks: its log records as ``note: ...`` and ``warning: ...`` lines, and a
:class:`grader.errors.GraderError` as one ``error: ...`` line and its exit code.

``python -m grader`` (:mod:`grader.__main__`) uses both for every command; the library entry points
that answer like a command (:func:`grader.pipeline.autograde.autograde`,
:func:`grader.pipeline.collect.collect`) use them too, so a test or a script calling them reads what
it always read. It imports nothing of the grader but :mod:`grader.errors`.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from grader.errors import GraderError


class _Said(logging.Handler):
    """Log records as the lines the grader has always printed: ``note: ...`` (INFO) and
    ``warning: ...`` (WARNING and above), on whatever ``sys.<stream>`` is when the record comes (a
    test may have redirected it), in order with the command's own output."""

    def __init__(self, stream: str) -> None:
        super().__init__()
        self.stream_name = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            word = "note" if record.levelno < logging.WARNING else "warning"
            print(f"{word}: {record.getMessage()}", file=getattr(sys, self.stream_name), flush=True)
        except Exception:
            self.handleError(record)


def say(logger_name: str = "grader.pipeline", stream: str = "stdout") -> None:
    """Print the records (INFO and above) of the logger ``logger_name`` and its children on
    ``sys.<stream>``; once, however often it is called. The pipeline (autograde, collect) says its
    notes and warnings on stdout, as it always has."""
    logger = logging.getLogger(logger_name)
    logger.setLevel(logging.INFO)
    logger.propagate = False   # said here only, not again by a handler further up
    if not any(isinstance(handler, _Said) for handler in logger.handlers):
        logger.addHandler(_Said(stream))


def exit_code_of(error: GraderError, stream: TextIO | None = None) -> int:
    """Print ``error: <message>`` on ``stream`` (stderr by default) and return the error's exit code."""
    print(f"error: {error}", file=stream or sys.stderr)
    return error.exit_code
