"""An interactive saliency explorer (lesson 06): four dropdowns (photo, class, layer, method)
that redraw the chosen method's map over the chosen photo.

It knows no algorithm: the lesson passes its ingredients.

- ``photos``: name -> image (h, w, 3), uint8 in [0, 255] or float in [0, 1].
- ``classes``: name -> ImageNet class index (int).
- ``layers``: layer names offered in the layer dropdown.
- ``methods``: name -> ``method(image, class_index, layer_name) -> map``, where ``image`` is the
  photo exactly as given and ``map`` a float array (h, w) at the photo's resolution (upsample a
  7×7 Grad-CAM first). Methods named in ``methods_without_layer`` (gradient, SmoothGrad) are
  called with ``layer_name=None``, and the layer dropdown is greyed out while one is chosen.

Each map is computed once per (photo, class, layer, method) and cached, so flipping back is
instant. The figure is drawn off-screen and put in an ``ipywidgets.Output`` as a PNG, so the
panel also runs without a browser (a notebook executed top to bottom) and leaves no figure open in pyplot.
"""

import base64
import io

import ipywidgets
import matplotlib.figure
import numpy as np

from helpers import plotting

_EPSILON = 1e-8  # keeps an all-zero map at zero instead of 0 / 0 = NaN


def normalize_map(saliency_map, percentile=99.0):
    """Stretch a map (h, w) of any range to float32 (h, w) in [0, 1] for display.

    map -> clip((map − min) / (p − min + ε), 0, 1) with p the map's ``percentile``-th value: the
    top 1 % of pixels share the top colour, so a few extreme pixels (gradient maps have them) do
    not leave the rest of the map dark. A constant map, all-zero included, becomes all zeros
    rather than NaN.
    """
    saliency_map = np.asarray(saliency_map, dtype=np.float32)
    low, high = float(saliency_map.min()), float(np.percentile(saliency_map, percentile))
    return np.clip((saliency_map - low) / (high - low + _EPSILON), 0.0, 1.0).astype(np.float32)


def _check_photos(photos):
    """Raise a one-line ValueError unless ``photos`` maps names to (h, w, 3) uint8 or [0, 1] float images."""
    if not isinstance(photos, dict) or not photos:
        raise ValueError("photos must be a non-empty dict of name -> image (h, w, 3)")
    for name, photo in photos.items():
        photo = np.asarray(photo)
        if photo.ndim != 3 or photo.shape[-1] != 3:
            raise ValueError(f"photo {name!r} must have shape (h, w, 3), got {photo.shape}")
        if photo.dtype != np.uint8 and not (np.issubdtype(photo.dtype, np.floating)
                                            and photo.min() >= 0.0 and photo.max() <= 1.0):
            raise ValueError(f"photo {name!r} must be uint8 or float in [0, 1], got {photo.dtype} "
                             f"from {photo.min():.3g} to {photo.max():.3g}")


def _check_choice(kind, name, choices):
    """Raise a one-line ValueError naming the valid choices when ``name`` is not one of ``choices``."""
    if name not in choices:
        raise ValueError(f"unknown {kind} {name!r}; the {kind}s are: {', '.join(map(str, choices))}")


def _png_output(png_bytes, text):
    """A display_data output for ``ipywidgets.Output.outputs``: the PNG, with ``text`` as its plain-text form."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png_bytes).decode("ascii"), "text/plain": text}}


class SaliencyExplorer(ipywidgets.VBox):
    """The panel: a VBox of four dropdowns and an Output showing the overlay (see the module docstring).

    ``overlay(image, map, ax=..., title=...)`` draws one view (default
    :func:`helpers.plotting.overlay_heatmap`). The first photo, class, layer and method are drawn
    at construction, so a bad ingredient raises there; later errors are shown in the panel.
    """

    def __init__(self, photos, classes, layers, methods, methods_without_layer=(),
                 overlay=plotting.overlay_heatmap, figure_inches=4.0):
        _check_photos(photos)
        for kind, choices in (("class", classes), ("layer", layers), ("method", methods)):
            if not choices:
                raise ValueError(f"give at least one {kind}")
        for name in methods_without_layer:
            _check_choice("method", name, list(methods))
        self.photos = {name: np.asarray(photo) for name, photo in photos.items()}
        self.classes, self.layers, self.methods = dict(classes), list(layers), dict(methods)
        self.methods_without_layer = set(methods_without_layer)
        self.overlay, self.figure_inches = overlay, figure_inches
        self._maps = {}  # (photo, class, layer or None, method) -> normalized map (h, w)
        self.dropdowns = {kind: ipywidgets.Dropdown(options=list(choices), description=kind)
                          for kind, choices in (("photo", self.photos), ("class", self.classes),
                                                ("layer", self.layers), ("method", self.methods))}
        self.output = ipywidgets.Output()
        super().__init__([ipywidgets.HBox([self.dropdowns["photo"], self.dropdowns["class"]]),
                          ipywidgets.HBox([self.dropdowns["layer"], self.dropdowns["method"]]),
                          self.output])
        self.redraw()
        for dropdown in self.dropdowns.values():
            dropdown.observe(self._on_change, names="value")

    def render(self, photo_name, class_name, layer_name, method_name):
        """What gets drawn: (map float32 (h, w) in [0, 1], title). Calls the method only on a cache miss."""
        _check_choice("photo", photo_name, list(self.photos))
        _check_choice("class", class_name, list(self.classes))
        _check_choice("method", method_name, list(self.methods))
        if method_name in self.methods_without_layer:
            layer_name = None
        else:
            _check_choice("layer", layer_name, self.layers)
        key = (photo_name, class_name, layer_name, method_name)
        if key not in self._maps:
            self._maps[key] = self._compute(*key)
        title = (f"{method_name}{f' at {layer_name}' if layer_name else ''}"
                 f"{' (map is constant)' if not self._maps[key].any() else ''}\n"
                 f"{class_name} ({self.classes[class_name]}) on {photo_name}")
        return self._maps[key], title

    def _compute(self, photo_name, class_name, layer_name, method_name):
        """Call the method once and check its answer; returns the normalized map (h, w)."""
        photo = self.photos[photo_name]
        saliency_map = np.asarray(self.methods[method_name](photo, int(self.classes[class_name]), layer_name))
        if saliency_map.shape != photo.shape[:2]:
            raise ValueError(f"method {method_name!r} returned a map of shape {saliency_map.shape}; expected "
                             f"{photo.shape[:2]}, the photo's (h, w) (upsample a small map first)")
        if not np.all(np.isfinite(saliency_map)):
            raise ValueError(f"method {method_name!r} returned NaN or infinite values")
        return normalize_map(saliency_map)

    def redraw(self):
        """Draw the dropdowns' current choice off-screen and show it as a PNG in the Output."""
        choice = [self.dropdowns[kind].value for kind in ("photo", "class", "layer", "method")]
        self.dropdowns["layer"].disabled = choice[3] in self.methods_without_layer
        saliency_map, title = self.render(*choice)
        figure = matplotlib.figure.Figure(figsize=(self.figure_inches, self.figure_inches))
        self.overlay(self.photos[choice[0]], saliency_map, ax=figure.subplots(), title=title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        self.output.outputs = (_png_output(buffer.getvalue(), title),)

    def _on_change(self, change):
        """Redraw after a dropdown changed; an error is shown in the panel, where a student sees it."""
        try:
            self.redraw()
        except Exception as error:  # noqa: BLE001 - an observer's exception would only reach the kernel's log
            self.output.outputs = ({"output_type": "stream", "name": "stdout",
                                    "text": f"{type(error).__name__}: {error}\n"},)
