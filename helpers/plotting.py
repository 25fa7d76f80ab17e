"""Pictures: heat maps laid over images (lessons 01, 02 and 03), and grids of images with
titles (lessons 01 and 04).

Images are arrays of shape (height, width) or (height, width, 3): floats in [0, 1]
or uint8 in [0, 255]. Heat maps are (h, w) arrays of any range; a map smaller
than the image is stretched over it.
"""

import matplotlib.pyplot as plt
import numpy as np


def _as_display_image(image):
    """Return ``image`` as float in [0, 1], (h, w) or (h, w, 3); a trailing channel of 1 is dropped."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an image of shape (h, w), (h, w, 1) or (h, w, 3), got {image.shape}")
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / 255.0
    image = image.astype(np.float32)
    if image.min() < -1e-3 or image.max() > 1 + 1e-3:
        raise ValueError(
            f"float images must lie in [0, 1] (got {image.min():.3g}..{image.max():.3g}); "
            "undo the model's preprocessing before plotting"
        )
    return np.clip(image, 0.0, 1.0)


def overlay_heatmap(image, heatmap, ax=None, alpha=0.5, title=None):
    """Draw ``heatmap`` (h, w) over ``image`` (H, W[, 3]) so both stay visible.

    The image is drawn in grey (or colour), the map on top with the ``jet`` colour map
    at opacity ``alpha`` and stretched to the image's extent. Returns the axes.
    """
    image = _as_display_image(image)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (h, w), got shape {heatmap.shape}")
    if not np.all(np.isfinite(heatmap)):
        raise ValueError("heatmap contains NaN or infinite values")
    if ax is None:
        ax = plt.gca()
    height, width = image.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, extent=extent)
    ax.imshow(heatmap, cmap="jet", alpha=alpha, extent=extent, interpolation="bilinear")
    if title:
        ax.set_title(title)
    ax.axis("off")
    return ax


def show_image_grid(images, titles=None, columns=5, size=2.0, suptitle=None):
    """Show ``images`` (a list or array of (h, w[, c]) images; grey ones in grey) in a grid with optional titles.

    Returns the matplotlib figure.
    """
    images = list(images)
    if not images:
        raise ValueError("show_image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    columns = max(1, min(columns, len(images)))
    rows = int(np.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        image = np.asarray(images[index])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize=9)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout()
    return figure
