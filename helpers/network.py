"""Is the network there? Fail fast instead of hanging.

Every loader in ``helpers`` asks :func:`can_download` before it tries the
internet, so an offline student (or CI) waits a few seconds at most.
Set ``COURSE_OFFLINE=1`` to skip the network entirely.
"""

import os
import socket

OFFLINE_VARIABLE = "COURSE_OFFLINE"


def offline_forced():
    """True when the environment variable ``COURSE_OFFLINE`` is set to 1/true/yes."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def can_download(host="storage.googleapis.com", port=443, timeout_seconds=3.0):
    """Return True when a TCP connection to ``host:port`` opens within ``timeout_seconds``.

    Returns False at once when offline mode is forced.
    """
    if offline_forced():
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False
