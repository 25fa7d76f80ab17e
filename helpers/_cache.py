"""Where the course keeps what it computes once (converted weights, trained models, parsed
digits), and how a file gets there without ever being half-written. No lesson calls this
module; :mod:`helpers.data` and :mod:`helpers.models` use it at run time.

``COURSE_CACHE`` overrides the folder; the default is ``~/.cache/seeing-inside-cnns``
(or ``$XDG_CACHE_HOME/seeing-inside-cnns``).
"""

import os
import secrets
from pathlib import Path


def cache_dir():
    """Return the course's cache folder, creating it if needed."""
    if os.environ.get("COURSE_CACHE"):
        folder = Path(os.environ["COURSE_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = Path(base) / "seeing-inside-cnns"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_atomically(path, write):
    """Call ``write(temporary_path)``, flush the file to disk, then move it onto ``path``.

    The temporary file lies beside ``path`` as ``.tmp-<pid>-<random>-<name>``, so it keeps the
    suffixes Keras and NumPy look at (``.weights.h5``, ``.npz``). Readers see the old file or
    the new one, never half of one, even when the writer is killed. When ``write`` fails
    (e.g. a read-only folder), the error is raised and no temporary file is left behind.
    Returns ``path``.
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
