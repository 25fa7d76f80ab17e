"""Reference implementations the hidden tests compare a student's answers with.

Students never import this module; instructors keep it out of the student bundle.
"""

import numpy as np
import scipy.ndimage


def class_activation_map(features, class_weights, output_size=(28, 28), order=2):
    """CAM of one image for one class: M_c(x, y) = Σ_k w_k^c f_k(x, y), upsampled.

    features: (h, w, K) last conv feature maps of one image, e.g. (3, 3, 128).
    class_weights: (K,) dense-layer weights of the class, e.g. ``gap_weights[:, c]``.
    The maps are upsampled to ``output_size`` with ``scipy.ndimage.zoom`` (spline
    ``order``) before the weighted sum, as the course does. Returns float64 (H, W), raw.
    """
    features = np.asarray(features, dtype=np.float64)
    class_weights = np.asarray(class_weights, dtype=np.float64)
    if features.ndim != 3 or class_weights.shape != (features.shape[-1],):
        raise ValueError(
            f"features must be (h, w, K) and class_weights (K,), got {features.shape} and {class_weights.shape}"
        )
    height, width = features.shape[:2]
    zoom = (output_size[0] / height, output_size[1] / width, 1)
    upsampled = scipy.ndimage.zoom(features, zoom, order=order)  # (H, W, K)
    return upsampled @ class_weights


def show_cam_reference(image_index, features, results, gap_weights):
    """What ``show_cam(image_index)`` of lesson 01 must return: the raw 28×28 CAM of the predicted class."""
    predicted = int(np.argmax(results[image_index]))
    return class_activation_map(features[image_index], gap_weights[:, predicted])
