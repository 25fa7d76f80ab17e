import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.plotting import overlay_heatmap, show_image_grid  # noqa: E402


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
