"""Is the network there? Fail fast instead of hanging (lessons 02 and 03; every loader here).

Every loader in ``helpers`` asks :func:`can_download` before it tries the
internet, so an offline student (or CI) waits a few seconds at most.
Set ``COURSE_OFFLINE=1`` to skip the network entirely.
"""

import os
import socket


def _offline_forced():
    """True when the environment variable ``COURSE_OFFLINE`` is set to 1/true/yes/on."""
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def can_download(host="storage.googleapis.com", port=443, timeout_seconds=3.0):
    """Return True when a TCP connection to ``host:port`` opens within ``timeout_seconds``.

    Returns False at once when offline mode is forced.
    """
    if _offline_forced():
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False
