"""Packaged photos and image files, resized and centre-cropped to uint8 RGB squares."""

import time

import numpy as np
import pytest
from PIL import Image

from helpers import images


def test_sample_photo_names():
    names = images._sample_photo_names()
    assert names[:4] == ["chelsea", "coffee", "astronaut", "rocket"]
    assert set(names) <= {"chelsea", "coffee", "astronaut", "rocket", "china", "flower"}


@pytest.mark.parametrize("name", images._sample_photo_names())
def test_sample_photos_are_224_rgb_squares(name):
    photo = images.sample_photo(name)
    assert photo.shape == (224, 224, 3) and photo.dtype == np.uint8
    assert 20 < photo.mean() < 235 and photo.std() > 20  # a real photo, not a blank


def test_sample_photo_other_size_and_unknown_name():
    assert images.sample_photo("coffee", size=64).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="available: chelsea, coffee"):
        images.sample_photo("dog")


def three_stripes(height, width):
    """(height, width, 3) uint8: left third red, middle third green, right third blue."""
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    third = width // 3
    picture[:, :third, 0] = 255
    picture[:, third:2 * third, 1] = 255
    picture[:, 2 * third:, 2] = 255
    return picture


def test_load_image_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    path = tmp_path / "stripes.png"
    Image.fromarray(three_stripes(100, 300)).save(path)
    image = images.load_image(path, size=50)  # 100×300 -> 50×150 -> centre 50×50 = the green stripe
    assert image.shape == (50, 50, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[:, 5:45], np.broadcast_to([0, 255, 0], (50, 40, 3)))


def test_load_image_portrait_and_grey_and_rgba(tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((300, 120), 77, dtype=np.uint8)).save(grey)
    result = images.load_image(str(grey))
    assert result.shape == (224, 224, 3)
    assert np.all(result == 77)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.full((40, 40, 4), [10, 20, 30, 0], dtype=np.uint8)).save(rgba)
    np.testing.assert_array_equal(images.load_image(rgba, size=8)[3, 3], [10, 20, 30])


def test_load_image_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file"):
        images.load_image(tmp_path / "missing.jpg")


def test_load_image_url_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="no network.*sample_photo"):
        images.load_image("https://upload.wikimedia.org/wikipedia/commons/a/a3/June_odd-eyed-cat.jpg")
    assert time.perf_counter() - start < 2


def test_to_rgb_rejects_floats_and_odd_shapes():
    with pytest.raises(ValueError, match="uint8"):
        images._to_rgb(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        images._to_rgb(np.zeros((4, 4, 2), dtype=np.uint8))
