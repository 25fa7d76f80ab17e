"""Pictures: heat maps laid over images (lessons 01, 02, 03 and 06), signed maps on a scale
centred at zero (lesson 01), and grids of images with titles (lessons 01 and 04).

Images are arrays of shape (height, width) or (height, width, 3): floats in [0, 1]
or uint8 in [0, 255]. Heat maps are (h, w) arrays of any range; a map smaller
than the image is stretched over it.

Two kinds of heat map, drawn differently so that a colour always means the same thing:

- an **unsigned** map (a saliency map, a rectified Grad-CAM, values ≥ 0 or scaled to [0, 1])
  is drawn in ``jet`` from its own minimum to its maximum;
- a **signed** map (a raw CAM, a log-odds map: negative values argue *against* the class) is
  drawn in the diverging ``RdBu_r`` on limits symmetric about zero, so white is exactly 0,
  red is positive and blue negative, with a colorbar giving the values
  (``signed=True``, :func:`show_signed_map`, :func:`signed_limit`).
"""

import matplotlib.pyplot as plt
import numpy as np

SIGNED_CMAP = "RdBu_r"  # diverging: blue < 0, white = 0, red > 0


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


def signed_limit(*maps):
    """The largest absolute value over ``maps`` (arrays of any shape), for a colour scale
    [-limit, limit] centred at zero that several maps can share; 1e-12 for all-zero maps."""
    if not maps:
        raise ValueError("signed_limit needs at least one map")
    values = [np.asarray(m, dtype=np.float64) for m in maps]
    if not all(np.all(np.isfinite(v)) for v in values):
        raise ValueError("a map contains NaN or infinite values")
    return max(max(float(np.abs(v).max()) if v.size else 0.0 for v in values), 1e-12)


def _add_colorbar(ax, drawn, label=None):
    colorbar = ax.figure.colorbar(drawn, ax=ax, fraction=0.046, pad=0.03)
    colorbar.ax.tick_params(labelsize=7)
    if label:
        colorbar.set_label(label, fontsize=8)
    return colorbar


def _finish(ax, drawn, title, colorbar):
    """Add the colorbar of ``drawn`` (if asked) and the title to ``ax``, hide its axes; return ``ax``."""
    if colorbar:
        _add_colorbar(ax, drawn)
    if title:
        ax.set_title(title)
    ax.axis("off")
    return ax


def overlay_heatmap(image, heatmap, ax=None, alpha=0.5, title=None, signed=False, limit=None, colorbar=False):
    """Draw ``heatmap`` (h, w) over ``image`` (H, W[, 3]) so both stay visible.

    The image is drawn in grey (or colour), the map on top at opacity ``alpha`` and stretched
    to the image's extent. An unsigned map (``signed=False``) uses the ``jet`` colour map from
    its minimum to its maximum. A signed map (``signed=True``) uses ``RdBu_r`` on
    [-limit, limit] (``limit`` defaults to the map's largest absolute value; pass one
    :func:`signed_limit` to several maps to put them on one scale): white is 0, red positive,
    blue negative. ``colorbar=True`` adds a colorbar with the map's values. Returns the axes.
    """
    image = _as_display_image(image)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (h, w), got shape {heatmap.shape}")
    if not np.all(np.isfinite(heatmap)):
        raise ValueError("heatmap contains NaN or infinite values")
    if limit is not None and not (signed and np.isfinite(limit) and limit > 0):
        raise ValueError(f"limit is for signed maps and must be a positive number, got {limit!r} (signed={signed})")
    if ax is None:
        ax = plt.gca()
    height, width = image.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, extent=extent)
    if signed:
        limit = signed_limit(heatmap) if limit is None else float(limit)
        scale = dict(cmap=SIGNED_CMAP, vmin=-limit, vmax=limit)
    else:
        scale = dict(cmap="jet")
    drawn = ax.imshow(heatmap, alpha=alpha, extent=extent, interpolation="bilinear", **scale)
    return _finish(ax, drawn, title, colorbar)


def show_signed_map(signed_map, ax=None, limit=None, title=None, colorbar=True, extent=None):
    """Draw a signed map (h, w) alone, in ``RdBu_r`` on [-limit, limit] with a colorbar.

    ``limit`` defaults to the map's largest absolute value (:func:`signed_limit`); ``extent``
    (left, right, bottom, top) places it, e.g. over the pixels a coarse grid covers. Nearest-pixel
    drawing: a 3×3 map shows as 9 cells. Returns the axes.
    """
    signed_map = np.asarray(signed_map, dtype=np.float32)
    if signed_map.ndim != 2:
        raise ValueError(f"signed_map must be 2-D (h, w), got shape {signed_map.shape}")
    limit = signed_limit(signed_map) if limit is None else float(limit)
    if not (np.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a positive number, got {limit!r}")
    if ax is None:
        ax = plt.gca()
    drawn = ax.imshow(signed_map, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit, interpolation="nearest", extent=extent)
    return _finish(ax, drawn, title, colorbar)


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
