"""Plumbing shared by the course notebooks; each module says which lessons use it.

- ``helpers.quiet``     – import TensorFlow without its start-up lines (every lesson).
- ``helpers.seeding``   – repeatable training on the CPU (every lesson).
- ``helpers.data``      – MNIST digits with an offline fallback (01, 04, 05).
- ``helpers.models``    – the GAP-CNN (01, 04, 05), the offline ImageNet classifier (02, 03, 05),
  the cat-vs-dog classifier (03).
- ``helpers.plotting``  – heat-map overlays and image grids (01-04).
- ``helpers.network``   – is the network there; offline mode with ``COURSE_OFFLINE=1`` (02, 03).
- ``helpers.imagenet``  – ImageNet class names and the 1001/1000-class numbering (02, 03, 05).
- ``helpers.images``    – packaged photos, the course's own (``data/photos``), your own files and URLs (02, 03, 06).
- ``helpers.deconv``    – the deconvnet (it takes lesson 04's max pooling with switches and unpooling as
  arguments), ReLU backward rules (04, 05, 06).
- ``helpers.maximize``  – activation maximization by gradient ascent on the input (05).
- ``helpers.trust``     – is a saliency map right: randomization checks, deletion/insertion, baselines,
  and the maps they test (class gradients, Guided Backprop for ReLU layers, SmoothGrad) (06).
- ``helpers.explorer``  – an ipywidgets panel: photo, class, layer, method -> overlay (06).

Modules whose names start with ``_`` run behind the others and are not called by a lesson:
the cache folder and atomic writes (``_cache``), and the conversion of the EfficientNet-Lite0
checkpoint into Keras (``_efficientnet_lite``). ``helpers.cache_dir()`` names that cache folder
and ``helpers.write_atomically`` writes a file whole, for code outside this package.

Nothing here answers a graded exercise: the algorithms a student must learn are
written out in the notebooks.
"""

from helpers._cache import cache_dir, write_atomically  # noqa: F401  (public: see above)
