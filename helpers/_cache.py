"""Where the course keeps what it computes once: converted weights, trained models.

``COURSE_CACHE`` overrides the folder; the default is ``~/.cache/seeing-inside-cnns``
(or ``$XDG_CACHE_HOME/seeing-inside-cnns``).
"""

import os
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
