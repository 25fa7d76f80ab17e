"""Import TensorFlow without its start-up messages (used by every lesson's Setup cell).

On a machine without a GPU, TensorFlow's C++ core writes lines such as "Could not find
cuda drivers" and "failed call to cuInit" straight to the process's stderr when it loads.
They are harmless, but a notebook shows them as red error blocks. Import this module
first, before ``keras`` and ``tensorflow``::

    import helpers.quiet  # noqa: F401  (TensorFlow's harmless start-up lines hidden)

It sets ``TF_CPP_MIN_LOG_LEVEL=3`` (C++ log messages below FATAL are dropped) and imports
TensorFlow while file descriptor 2 points at the null device. Python warnings and errors
raised later still reach you.
"""

import os
import sys
from contextlib import contextmanager

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


@contextmanager
def stderr_silenced():
    """Send everything written to file descriptor 2 to the null device until the block ends."""
    sys.stderr.flush()
    saved_descriptor = os.dup(2)
    null_descriptor = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null_descriptor, 2)
    try:
        yield
    finally:
        os.dup2(saved_descriptor, 2)
        os.close(saved_descriptor)
        os.close(null_descriptor)


with stderr_silenced():
    import tensorflow

    tensorflow.config.list_physical_devices("GPU")  # probes CUDA once, here, silently
