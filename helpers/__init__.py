"""Plumbing shared by the course notebooks.

Topical modules (import the one you need):

- ``helpers.network``  – is the network there, and is offline mode forced (``COURSE_OFFLINE=1``)?
- ``helpers.data``     – MNIST / Fashion-MNIST with offline fallbacks.
- ``helpers.models``   – the GAP-CNN of lesson 01 (and the ImageNet classifier of lessons 02-05).
- ``helpers.plotting`` – heat-map overlays and image grids.
- ``helpers.seeding``  – repeatable training on the CPU.

Nothing here answers a graded exercise: the algorithms a student must learn are
written out in the notebooks.
"""

__all__ = ["network", "data", "models", "plotting", "seeding"]
