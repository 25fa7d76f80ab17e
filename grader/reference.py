"""Reference implementations the hidden tests compare a student's answers with: the one
CAM and the one Grad-CAM outside the lessons.

They live with their exercise's check (:mod:`grader.checks.mnist_cam`,
:mod:`grader.checks.cats_dogs_gradcam`), which names them in its ``REFERENCES``. This module is
the name the solution notebooks' hidden tests import (``from grader import reference``,
``from grader.reference import grad_cam``), and the one the sandbox replaces with a stub that
replays recorded answers (see grader/sandbox/replay.py). Students never import this module;
instructors keep it out of the student bundle.
"""

import os

# _GRAD_CAM_FUNCTIONS, grad_cam's cache, is imported for tests/test_grad_cam_reference.py, which inspects it.
from grader.checks import REFERENCES
from grader.checks.cats_dogs_gradcam import _GRAD_CAM_FUNCTIONS, GRAD_CAM_EPSILON  # noqa: F401
from grader.checks.mnist_cam import class_activation_map

# Every exercise module's REFERENCES (grader.checks), by name: show_cam_reference, grad_cam, ...
globals().update({name: function for name, (function, _revealed) in REFERENCES.items()})

__all__ = ["GRAD_CAM_EPSILON", "class_activation_map", *REFERENCES]

# The grader records the answers of a trusted run for the sandboxed kernels (see grader/sandbox/replay.py):
# the functions are wrapped in this module's namespace, the one the hidden tests call them through.
if os.environ.get("COURSE_REFERENCE_RECORD"):
    from grader.sandbox.replay import RECORD_VARIABLE, record

    record(globals(), list(REFERENCES), os.environ[RECORD_VARIABLE],
           revealed={name: revealed for name, (_function, revealed) in REFERENCES.items() if revealed is not None})
