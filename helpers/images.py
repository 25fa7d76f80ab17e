"""Photos for the ImageNet lessons (02, 03 and 06), as uint8 RGB arrays ready for the classifier.

Offline, the photos come from installed packages: scikit-image ships ``chelsea`` (a
tabby cat), ``coffee`` (an espresso cup), ``astronaut`` and ``rocket``; scikit-learn,
when installed, ships ``china`` and ``flower``. The course ships two more in ``data/photos/``
(MIT, from jacobgil/pytorch-grad-cam; its README gives the attribution): ``both`` (a bulldog
and a tabby cat) and ``dogs`` (six dogs on grass). :func:`load_image` also reads a local
file, or a URL when the network is there.

Every function returns (size, size, 3) uint8 RGB: the shorter side resized to ``size``
(bicubic, with antialiasing), then the centre cropped to a square.
"""

import importlib.util
import io
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

_SKIMAGE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
_SKLEARN_PHOTOS = ("china", "flower")
_COURSE_PHOTOS = {"both": "both.png", "dogs": "dogs.png"}  # name -> file in data/photos/
_DOWNLOAD_TIMEOUT_SECONDS = 10


def _sklearn_available():
    """True when scikit-learn (which ships china.jpg and flower.jpg) is importable."""
    return importlib.util.find_spec("sklearn") is not None


def _sample_photo_names():
    """Names of the photos inside installed packages: scikit-image's, plus scikit-learn's if installed."""
    return list(_SKIMAGE_PHOTOS) + (list(_SKLEARN_PHOTOS) if _sklearn_available() else [])


def _all_photo_names():
    """Every name :func:`sample_photo` accepts: the packages' photos, then the course's own."""
    return _sample_photo_names() + list(_COURSE_PHOTOS)


def _course_photos_folder():
    """The folder holding the course's own photos (both.png, dogs.png and their README).

    In a clone of the course, or after ``pip install -e .``, it is ``data/photos`` beside the
    ``helpers`` package. ``pip install .`` of the student bundle copies ``data/photos`` into the
    installed package as ``helpers/photos`` (package data), so a notebook finds the photos
    whatever folder it runs in.
    """
    package = Path(__file__).resolve().parent
    candidates = [package / "photos", package.parent / "data" / "photos"]
    for folder in candidates:
        if all((folder / file_name).is_file() for file_name in _COURSE_PHOTOS.values()):
            return folder
    raise FileNotFoundError(
        f"the course's photos ({', '.join(_COURSE_PHOTOS.values())}) are in neither "
        f"{' nor '.join(str(folder) for folder in candidates)}; reinstall the course's helpers with `pip install .` "
        f"from the folder holding pyproject.toml and data/photos/"
    )


def _raw_sample_photo(name):
    """The packaged photo ``name`` at its original size, (h, w, 3) uint8."""
    if name in _COURSE_PHOTOS:
        from PIL import Image

        with Image.open(_course_photos_folder() / _COURSE_PHOTOS[name]) as picture:
            return np.asarray(picture.convert("RGB"))
    if name in _SKIMAGE_PHOTOS:
        import skimage.data

        return getattr(skimage.data, name)()
    if name in _SKLEARN_PHOTOS and _sklearn_available():
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    raise ValueError(f"no sample photo called '{name}'; available: {', '.join(_all_photo_names())}")


def _to_rgb(image):
    """(h, w), (h, w, 1), (h, w, 3) or (h, w, 4) image -> (h, w, 3) uint8 (grey repeated, alpha dropped)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels 0-255, got dtype {image.dtype}")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[..., :3]


def _resize_and_center_crop(image, size=224):
    """Resize so the shorter side is ``size`` pixels, then crop the centre square.

    image: (h, w, 3) uint8 RGB of any size. Returns (size, size, 3) uint8 RGB.
    """
    from PIL import Image

    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer number of pixels, got {size!r}")
    image = _to_rgb(image)
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_width, new_height), Image.Resampling.BICUBIC))
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return np.ascontiguousarray(resized[top:top + size, left:left + size])


def sample_photo(name, size=224):
    """A photo that works offline, as (size, size, 3) uint8 RGB.

    ``name`` is "chelsea", "coffee", "astronaut" or "rocket" (scikit-image), "china" or
    "flower" when scikit-learn is installed, or the course's own "both" (a bulldog above a
    tabby cat) and "dogs" (six dogs on grass); an unknown name raises a ValueError listing them.
    """
    return _resize_and_center_crop(_raw_sample_photo(name), size)


def _is_url(path_or_url):
    """True for strings starting with http:// or https://."""
    return isinstance(path_or_url, str) and urllib.parse.urlparse(path_or_url).scheme in ("http", "https")


def _download_bytes(url):
    """The bytes at ``url``; a RuntimeError within seconds when the host cannot be reached."""
    from helpers.network import can_download

    parts = urllib.parse.urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not can_download(parts.hostname, port):
        raise RuntimeError(
            f"cannot download {url}: no network (or COURSE_OFFLINE=1). "
            f"Save the image and pass its file path, or use helpers.images.sample_photo "
            f"(offline photos: {', '.join(_all_photo_names())})"
        )
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response:
        return response.read()


def load_image(path_or_url, size=224):
    """Read a local image file (PNG, JPEG, …) or an http(s) URL -> (size, size, 3) uint8 RGB.

    The shorter side is resized to ``size`` and the centre cropped. URLs need the
    network: offline (or with COURSE_OFFLINE=1) a RuntimeError is raised at once.
    """
    from PIL import Image

    if _is_url(path_or_url):
        source = io.BytesIO(_download_bytes(path_or_url))
    else:
        source = Path(path_or_url)
        if not source.is_file():
            raise FileNotFoundError(f"no image file at {source}")
    with Image.open(source) as picture:
        image = np.asarray(picture.convert("RGB"))
    return _resize_and_center_crop(image, size)
