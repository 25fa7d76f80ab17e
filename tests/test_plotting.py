import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.plotting import overlay_heatmap, show_image_grid, show_signed_map, signed_limit  # noqa: E402


def test_overlay_stretches_a_small_map_over_the_image_with_jet_and_alpha():
    figure, ax = plt.subplots()
    image = np.zeros((28, 28, 1), dtype=np.float32)
    overlay_heatmap(image, np.arange(9.0).reshape(3, 3), ax=ax, alpha=0.4, title="t")
    drawn = ax.get_images()
    assert len(drawn) == 2
    assert drawn[1].get_alpha() == 0.4 and drawn[1].get_cmap().name == "jet"
    assert drawn[0].get_extent() == drawn[1].get_extent() == [-0.5, 27.5, 27.5, -0.5]
    assert ax.get_title() == "t"
    plt.close(figure)


def test_overlay_accepts_uint8_rgb_photos():
    figure, ax = plt.subplots()
    overlay_heatmap(np.full((8, 8, 3), 255, np.uint8), np.ones((2, 2)), ax=ax)
    assert ax.get_images()[0].get_array().max() == pytest.approx(1.0)
    plt.close(figure)


@pytest.mark.parametrize(
    "image, heatmap, message",
    [
        (np.zeros((4, 4)), np.full((2, 2), np.nan), "NaN"),
        (np.full((4, 4), 255.0), np.ones((2, 2)), r"\[0, 1\]"),
        (np.zeros((4, 4)), np.ones((2, 2, 2)), "2-D"),
        (np.zeros((4, 4, 5)), np.ones((2, 2)), "image of shape"),
    ],
)
def test_overlay_rejects_bad_input_with_a_reason(image, heatmap, message):
    with pytest.raises(ValueError, match=message):
        overlay_heatmap(image, heatmap)
    plt.close("all")


def test_image_grid_lays_out_rows_and_titles():
    images = np.random.default_rng(0).random((7, 5, 5, 1))
    figure = show_image_grid(images, titles=list("abcdefg"), columns=3)
    titled = [ax.get_title() for ax in figure.axes if ax.get_images()]
    assert len(figure.axes) == 9 and titled == list("abcdefg")
    plt.close(figure)


def test_image_grid_rejects_mismatched_titles():
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        show_image_grid([np.zeros((2, 2))] * 2, titles=["x"])


def test_a_signed_overlay_is_centred_at_zero_on_a_diverging_map_with_a_colorbar():
    """A raw CAM with values -1..3: RdBu_r on [-3, 3] (white is exactly 0), and a colorbar."""
    figure, ax = plt.subplots()
    heatmap = np.array([[-1.0, 0.0], [2.0, 3.0]])
    overlay_heatmap(np.zeros((4, 4)), heatmap, ax=ax, signed=True, colorbar=True)
    drawn = ax.get_images()[1]
    assert drawn.get_cmap().name == "RdBu_r"
    assert drawn.get_clim() == (-3.0, 3.0)
    white = drawn.to_rgba(np.array([0.0]))[0, :3]
    assert np.allclose(white, white[0], atol=0.02) and white[0] > 0.9, f"0 should be drawn white, got {white}"
    assert len(figure.axes) == 2, "expected the map's axes and a colorbar"
    plt.close(figure)


def test_signed_maps_share_one_limit_and_unsigned_ones_keep_min_max():
    figure, axes = plt.subplots(1, 3)
    small, large = np.full((3, 3), 0.5), np.array([[-4.0, 1.0], [0.0, 2.0]])
    limit = signed_limit(small, large)
    assert limit == 4.0
    overlay_heatmap(np.zeros((6, 6)), small, ax=axes[0], signed=True, limit=limit)
    overlay_heatmap(np.zeros((6, 6)), large, ax=axes[1], signed=True, limit=limit)
    overlay_heatmap(np.zeros((6, 6)), large, ax=axes[2])
    assert axes[0].get_images()[1].get_clim() == axes[1].get_images()[1].get_clim() == (-4.0, 4.0)
    assert axes[2].get_images()[1].get_clim() == (-4.0, 2.0) and axes[2].get_images()[1].get_cmap().name == "jet"
    assert len(figure.axes) == 3, "no colorbar unless asked for"
    plt.close(figure)


def test_show_signed_map_draws_cells_on_a_symmetric_scale_where_it_is_told():
    figure, ax = plt.subplots()
    show_signed_map(np.array([[1.0, -2.0], [0.5, 0.0]]), ax=ax, title="cam", extent=(-0.5, 15.5, 15.5, -0.5))
    drawn = ax.get_images()[0]
    assert drawn.get_clim() == (-2.0, 2.0) and drawn.get_interpolation() == "nearest"
    assert drawn.get_extent() == [-0.5, 15.5, 15.5, -0.5] and ax.get_title() == "cam"
    assert len(figure.axes) == 2
    plt.close(figure)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: overlay_heatmap(np.zeros((4, 4)), np.ones((2, 2)), limit=1.0), "signed"),
        (lambda: overlay_heatmap(np.zeros((4, 4)), np.ones((2, 2)), signed=True, limit=0.0), "positive"),
        (lambda: show_signed_map(np.ones(3)), "2-D"),
        (lambda: signed_limit(np.array([np.nan])), "NaN"),
    ],
)
def test_signed_drawing_rejects_bad_input_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    plt.close("all")


def test_an_all_zero_signed_map_is_drawn_without_dividing_by_zero():
    assert signed_limit(np.zeros((3, 3))) == 1e-12
    figure, ax = plt.subplots()
    show_signed_map(np.zeros((3, 3)), ax=ax)
    plt.close(figure)
