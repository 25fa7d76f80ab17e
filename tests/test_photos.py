"""The course's own photos (data/photos/): served offline, attributed, and what the classifier sees in them."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from grader.course import REPO_ROOT
from helpers import images
from helpers.imagenet import CAT_CLASSES, DOG_CLASSES, softmax

PHOTOS = REPO_ROOT / "data" / "photos"
COURSE_PHOTO_NAMES = ("both", "dogs")


@pytest.mark.parametrize("name", COURSE_PHOTO_NAMES)
def test_course_photos_are_224_rgb_squares(name):
    photo = images.sample_photo(name)
    assert photo.shape == (224, 224, 3) and photo.dtype == np.uint8
    assert 20 < photo.mean() < 235 and photo.std() > 20  # a real photo, not a blank
    assert np.abs(photo[..., 0].astype(int) - photo[..., 2]).mean() > 5  # colour, not grey repeated


def test_unknown_name_lists_every_photo():
    with pytest.raises(ValueError) as error:
        images.sample_photo("husky")
    for name in images._sample_photo_names() + list(COURSE_PHOTO_NAMES):
        assert name in str(error.value)


def test_dog_classes_dominate_both_photos_as_measured_in_the_readme():
    from helpers.models import imagenet_classifier, imagenet_preprocess

    photos = np.stack([images.sample_photo(name) for name in COURSE_PHOTO_NAMES])        # (2, 224, 224, 3)
    logits = np.asarray(imagenet_classifier(verbose=False)(imagenet_preprocess(photos), training=False))
    probabilities = softmax(logits)                                                       # (2, 1000)
    dog_share = probabilities[:, list(DOG_CLASSES)].sum(axis=1)
    cat_share = probabilities[:, list(CAT_CLASSES)].sum(axis=1)
    assert list(probabilities.argmax(axis=1)) == [243, 188]  # Bullmastiff, Wire Fox Terrier
    np.testing.assert_allclose(dog_share, [0.59, 0.79], atol=0.03)
    assert cat_share[0] == pytest.approx(0.05, abs=0.02) and cat_share[1] < 0.01


def test_attribution_names_the_source_and_holds_the_mit_license():
    readme = (PHOTOS / "README.md").read_text()
    for needed in ("jacobgil/pytorch-grad-cam", "084273b3f30b54ad0c64cf8020a4337d979a66e0", "MIT License",
                   "Copyright (c) 2021 Jacob Gildenblat", "Permission is hereby granted, free of charge",
                   'THE SOFTWARE IS PROVIDED "AS IS"', "both.png", "dogs.png"):
        assert needed in readme, needed
    assert sorted(path.name for path in PHOTOS.iterdir()) == ["README.md", "both.png", "dogs.png"]


def _photos_folder_seen_by_a_copy(site_packages, cwd):
    """Run helpers.images from a copy of the package in ``site_packages``, in the folder ``cwd``."""
    script = ("import helpers.images as i; print(i.__file__); print(i._course_photos_folder()); "
              "print(i.sample_photo('both').shape)")
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(site_packages), "PATH": ""}, timeout=60)


def test_an_installed_copy_finds_the_photos_inside_the_package_wherever_it_runs(tmp_path):
    """`pip install .` of the student bundle puts data/photos into site-packages as helpers/photos
    (tests/test_bundle.py builds that wheel); a notebook may run in any folder."""
    site_packages, elsewhere = tmp_path / "site-packages", tmp_path / "elsewhere"
    shutil.copytree(REPO_ROOT / "helpers", site_packages / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PHOTOS, site_packages / "helpers" / "photos")
    elsewhere.mkdir()
    result = _photos_folder_seen_by_a_copy(site_packages, elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(site_packages / "helpers" / "images.py"),
                                          str(site_packages / "helpers" / "photos"), "(224, 224, 3)"]


def test_a_copy_without_the_photos_says_where_it_looked(tmp_path):
    site_packages = tmp_path / "site-packages"
    shutil.copytree(REPO_ROOT / "helpers", site_packages / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    result = _photos_folder_seen_by_a_copy(site_packages, tmp_path)
    assert result.returncode != 0
    assert "FileNotFoundError" in result.stderr and "pip install ." in result.stderr
    assert str(site_packages / "helpers" / "photos") in result.stderr
