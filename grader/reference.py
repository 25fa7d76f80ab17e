"""Reference implementations the hidden tests compare a student's answers with: the one
CAM and the one Grad-CAM outside the lessons.

They live with their exercise's check (:mod:`grader.checks.mnist_cam`,
:mod:`grader.checks.cats_dogs_gradcam`); this module is the name the solution notebooks' hidden
tests import (``from grader import reference``, ``from grader.reference import grad_cam``), and
the one the sandbox replaces with a stub that replays recorded answers (see
grader/sandbox/replay.py). Students never import this module; instructors keep it out of the
student bundle.
"""

import os

# _GRAD_CAM_FUNCTIONS, grad_cam's cache, is imported for tests/test_grad_cam_reference.py, which inspects it.
from grader.checks.cats_dogs_gradcam import _GRAD_CAM_FUNCTIONS, GRAD_CAM_EPSILON, grad_cam  # noqa: F401
from grader.checks.mnist_cam import class_activation_map, show_cam_reference

__all__ = ["GRAD_CAM_EPSILON", "class_activation_map", "grad_cam", "show_cam_reference"]

# The grader records the answers of a trusted run for the sandboxed kernels (see grader/sandbox/replay.py):
# the functions are wrapped in this module's namespace, the one the hidden tests call them through.
if os.environ.get("COURSE_REFERENCE_RECORD"):
    from grader.sandbox.replay import RECORD_VARIABLE, record

    # Lesson 01's answers are linear in a 3×3 map: four pixels of each (see grader/sandbox/replay.py).
    record(globals(), ["show_cam_reference", "grad_cam"], os.environ[RECORD_VARIABLE],
           revealed={"show_cam_reference": 4})
