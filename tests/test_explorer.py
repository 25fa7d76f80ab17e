"""The saliency explorer of lesson 06 (helpers.explorer), on tiny numpy methods: no model, no browser."""

import numpy as np
import pytest

from helpers import plotting
from helpers.explorer import SaliencyExplorer, normalize_map

PHOTOS = {"grey": np.full((8, 6, 3), 128, np.uint8), "bright": np.ones((8, 6, 3), np.float32)}
CLASSES = {"bullmastiff": 243, "tiger cat": 282}
LAYERS = ["top_activation", "block11_expand_activation"]


def recording_method(calls, shape=(8, 6)):
    """A fake method: records (image shape, class index, layer) and returns a ramp scaled by the class index."""
    def method(image, class_index, layer_name):
        calls.append((image.shape, class_index, layer_name))
        return np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * class_index
    return method


def counting_overlay(drawn):
    """The real overlay, recording the title of every figure drawn."""
    def overlay(image, heatmap, ax=None, title=None):
        drawn.append(title)
        return plotting.overlay_heatmap(image, heatmap, ax=ax, title=title)
    return overlay


def make_explorer(methods, drawn=None, **options):
    return SaliencyExplorer(PHOTOS, CLASSES, LAYERS, methods,
                            overlay=counting_overlay([] if drawn is None else drawn), **options)


def shown_title(panel):
    """The plain-text form (the title) of the single figure the panel's Output holds."""
    (output,) = panel.output.outputs
    assert output["output_type"] == "display_data" and output["data"]["image/png"]
    return output["data"]["text/plain"]


def test_construction_draws_the_first_choice_once():
    calls, drawn = [], []
    panel = make_explorer({"ramp": recording_method(calls)}, drawn)
    assert calls == [((8, 6, 3), 243, "top_activation")]
    assert drawn == [shown_title(panel)] and "bullmastiff (243)" in drawn[0] and "top_activation" in drawn[0]


@pytest.mark.parametrize("kind, value, expected_call", [
    ("photo", "bright", ((8, 6, 3), 243, "top_activation")),
    ("class", "tiger cat", ((8, 6, 3), 282, "top_activation")),
    ("layer", "block11_expand_activation", ((8, 6, 3), 243, "block11_expand_activation")),
])
def test_changing_a_dropdown_calls_the_method_with_the_new_choice_and_redraws(kind, value, expected_call):
    calls, drawn = [], []
    panel = make_explorer({"ramp": recording_method(calls)}, drawn)
    panel.dropdowns[kind].value = value
    assert calls[-1] == expected_call and len(calls) == 2
    assert len(drawn) == 2 and shown_title(panel) == drawn[-1] != drawn[0]


def test_changing_the_method_calls_the_new_method_and_greys_out_the_layer_for_a_layerless_one():
    first_calls, gradient_calls = [], []
    panel = make_explorer({"ramp": recording_method(first_calls), "gradient": recording_method(gradient_calls)},
                          methods_without_layer=["gradient"])
    assert not panel.dropdowns["layer"].disabled
    panel.dropdowns["method"].value = "gradient"
    assert gradient_calls == [((8, 6, 3), 243, None)] and "gradient" in shown_title(panel)
    assert panel.dropdowns["layer"].disabled
    panel.dropdowns["layer"].value = "block11_expand_activation"  # ignored by a layerless method: served from the cache
    assert len(gradient_calls) == 1


def test_flipping_back_uses_the_cache_instead_of_calling_the_method_again():
    calls, drawn = [], []
    panel = make_explorer({"ramp": recording_method(calls)}, drawn)
    panel.dropdowns["class"].value = "tiger cat"
    panel.dropdowns["class"].value = "bullmastiff"
    assert [call[1] for call in calls] == [243, 282]
    assert len(drawn) == 3 and drawn[2] == drawn[0]


def test_render_returns_the_map_normalized_to_0_1_and_a_title_naming_the_choice():
    panel = make_explorer({"ramp": recording_method([])})
    saliency_map, title = panel.render("bright", "tiger cat", "block11_expand_activation", "ramp")
    assert saliency_map.shape == (8, 6) and saliency_map.dtype == np.float32
    assert saliency_map.min() == 0.0 and saliency_map.max() == pytest.approx(1.0)
    ramp = np.arange(48).reshape(8, 6)
    assert np.allclose(saliency_map, np.clip(ramp / np.percentile(ramp, 99), 0, 1), atol=1e-6)
    assert all(word in title for word in ("ramp", "tiger cat (282)", "block11_expand_activation"))


def test_a_few_extreme_pixels_do_not_leave_the_rest_of_the_map_dark():
    speckled = np.tile(np.linspace(0.0, 1.0, 100, dtype=np.float32), (100, 1))   # (100, 100), a ramp to the right
    speckled[0, :5] = 1000.0                                                    # 5 pixels of 10,000: gradient specks
    shown = normalize_map(speckled)
    assert shown.min() == 0.0 and shown.max() == pytest.approx(1.0)
    assert np.all(shown[0, :5] == pytest.approx(1.0))
    assert shown[50, 50] > 0.4 and shown[50, 98] > 0.9   # without the clipping, about 0.0005 and 0.001


def test_an_all_zero_map_gives_zeros_and_a_figure_not_nan():
    panel = make_explorer({"nothing": lambda image, class_index, layer_name: np.zeros(image.shape[:2])})
    saliency_map, title = panel.render("grey", "bullmastiff", "top_activation", "nothing")
    assert np.all(np.isfinite(saliency_map)) and not saliency_map.any()
    assert "constant" in title and "constant" in shown_title(panel)
    assert np.all(np.isfinite(normalize_map(np.full((3, 3), 5.0))))


def one_line_value_error(function, *arguments):
    with pytest.raises(ValueError) as error:
        function(*arguments)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_an_unknown_photo_class_or_layer_is_a_one_line_value_error_listing_the_choices():
    panel = make_explorer({"ramp": recording_method([])})
    message = one_line_value_error(panel.render, "husky", "bullmastiff", "top_activation", "ramp")
    assert "unknown photo 'husky'" in message and "grey, bright" in message
    assert "unknown class" in one_line_value_error(panel.render, "grey", "husky", "top_activation", "ramp")
    assert "unknown layer" in one_line_value_error(panel.render, "grey", "bullmastiff", "top_pool", "ramp")


@pytest.mark.parametrize("shape", [(8, 6, 3), (7, 7), (48,)])
def test_a_method_returning_the_wrong_shape_is_a_one_line_value_error_at_construction(shape):
    message = one_line_value_error(make_explorer, {"ramp": recording_method([], shape=shape)})
    assert f"method 'ramp' returned a map of shape {shape}" in message and "(8, 6)" in message


def test_a_method_returning_nan_is_a_value_error():
    nan_method = {"nan": lambda image, class_index, layer_name: np.full(image.shape[:2], np.nan)}
    assert "method 'nan' returned NaN" in one_line_value_error(make_explorer, nan_method)


def test_a_bad_photo_is_a_one_line_value_error():
    for photos in ({"grey": np.zeros((8, 6))}, {"grey": np.full((8, 6, 3), 2.0)}, {}):
        one_line_value_error(SaliencyExplorer, photos, CLASSES, LAYERS, {"ramp": recording_method([])})


def test_an_error_after_construction_is_shown_in_the_panel():
    def fails_on_tiger_cat(image, class_index, layer_name):
        return np.ones((3, 3)) if class_index == 282 else np.ones(image.shape[:2])
    panel = make_explorer({"picky": fails_on_tiger_cat})
    panel.dropdowns["class"].value = "tiger cat"
    (output,) = panel.output.outputs
    assert output["output_type"] == "stream" and output["text"].startswith("ValueError: method 'picky'")
