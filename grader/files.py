"""Files the grader writes so that no reader ever sees half of one.

:func:`write_atomically` is the grader's own copy of :func:`helpers._cache.write_atomically` (same
behaviour): ``helpers`` is the students' package and its ``_``-modules are its private plumbing,
which the grader does not import (tests/test_import_rules.py). The course's cache folder, where
the lessons keep their converted weights, is :func:`helpers.cache_dir` (public).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, flush the file to disk, then move it onto ``path``.

    The temporary file lies beside ``path`` as ``.tmp-<pid>-<random>-<name>``. Readers see the old
    file or the new one, never half of one, even when the writer is killed. When ``write`` fails, the
    error is raised and no temporary file is left behind. Returns ``path``.
    """
    path = Path(path)
    temporary = path.with_name(f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{path.name}")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path

