"""Lesson 03's Grad-CAM layers, as the Grad-CAM paper defines them, and what its two targets compute.

(a) the layer get_CAM uses by default (and the grader's second layer) are rectified outputs:
    never negative on the course's photos; (b) on the two-class head, the map of a probability
    equals the map of the log-odds after normalization (so the cat and dog maps mirror each
    other); (c) CAM (the dense weights times the last rectified maps) equals Grad-CAM of the logit.
"""

import ast
import json

import keras
import numpy as np
import pytest
from keras import ops

from grader import reference
from grader.checks import cats_dogs_gradcam as checks
from grader.course import SOLUTIONS_DIR
from helpers import images, models
from helpers.imagenet import CAT_CLASSES, DOG_CLASSES

NOTEBOOK = SOLUTIONS_DIR / "03_cats_dogs_gradcam.ipynb"
PHOTO_NAMES = images._all_photo_names()          # scikit-image's, scikit-learn's if installed, both and dogs

# Keras warns when a model built on `model.inputs` (a list) is called with one tensor; harmless here.
pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match")


def notebook_parameters():
    """``(default layer of get_CAM, LAYER_NAME, SECOND_LAYER_NAME)`` read from the solution notebook's code."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    tree = ast.parse("\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"
                               and not "".join(cell["source"]).lstrip().startswith(("%", "!"))))
    constants = {target.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant)}
    get_cam = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "get_CAM")
    default = get_cam.args.defaults[-1]
    default_layer = constants[default.id] if isinstance(default, ast.Name) else default.value
    return default_layer, constants["LAYER_NAME"], constants["SECOND_LAYER_NAME"]


@pytest.fixture(scope="module")
def imagenet_model():
    return models.imagenet_classifier(verbose=False)


@pytest.fixture(scope="module")
def photos():
    """Every photo sample_photo serves offline, preprocessed: (n, 224, 224, 3)."""
    return models.imagenet_preprocess(np.stack([images.sample_photo(name) for name in PHOTO_NAMES]))


class _AnimalScores(keras.layers.Layer):
    """ImageNet logits (batch, 1000) -> the two-class head's scores before its softmax, [s_cat, s_dog]."""

    def call(self, logits):
        return ops.stack([ops.logsumexp(ops.take(logits, list(classes), axis=1), axis=1)
                          for classes in (CAT_CLASSES, DOG_CLASSES)], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


class _LogOdds(keras.layers.Layer):
    """[s_cat, s_dog] -> [d, -d] with d = s_cat - s_dog, the log-odds of a cat."""

    def call(self, scores):
        log_odds = scores[:, 0] - scores[:, 1]
        return ops.stack([log_odds, -log_odds], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


def test_the_grader_uses_the_notebooks_layers():
    default_layer, layer_name, second_layer_name = notebook_parameters()
    assert default_layer == layer_name == "top_activation"
    assert checks.GRAD_CAM_LAYERS == (layer_name, second_layer_name)


@pytest.mark.parametrize("layer_name", checks.GRAD_CAM_LAYERS)
def test_grad_cam_layers_are_rectified_on_the_course_photos(imagenet_model, photos, layer_name):
    """(a) Feature maps that are ReLU(6) outputs: never negative, and not all zero either."""
    assert {"both", "dogs", "chelsea", "coffee"} <= set(PHOTO_NAMES)
    feature_maps = keras.Model(imagenet_model.inputs, imagenet_model.get_layer(layer_name).output)
    values = np.asarray(feature_maps(photos, training=False))                        # (n, h, w, K)
    assert values.shape[1:3] in ((7, 7), (14, 14))
    negative = {name: float(values[index].min()) for index, name in enumerate(PHOTO_NAMES) if values[index].min() < 0}
    assert not negative, f"{layer_name} has negative outputs (smallest per photo): {negative}"
    assert np.all(values.max(axis=(1, 2, 3)) > 0)


def test_probability_map_is_the_log_odds_map_on_the_two_class_head(imagenet_model, photos):
    """(b) ∂p_cat/∂A = p_cat p_dog ∂d/∂A and ∂p_dog/∂A = −p_cat p_dog ∂d/∂A: after the ReLU and the
    division by the maximum, the map of p_cat is that of d and the map of p_dog that of −d. The
    map of the logit s_cat alone is another map (the comparison tells the two targets apart)."""
    two_class = models.cats_vs_dogs_classifier(imagenet_model)
    scores = _AnimalScores()(imagenet_model.output)
    score_model = keras.Model(imagenet_model.input, scores)
    log_odds_model = keras.Model(imagenet_model.input, _LogOdds()(scores))
    for layer_name in checks.GRAD_CAM_LAYERS:
        probability_maps = [reference.grad_cam(two_class, photos, label, layer_name) for label in (0, 1)]
        for label, probability_map in enumerate(probability_maps):
            log_odds_map = reference.grad_cam(log_odds_model, photos, label, layer_name)
            assert probability_map.max() == pytest.approx(1)
            # float32 round-off: each map differs from its float64 version by up to 1e-5 (measured 7e-6)
            np.testing.assert_allclose(probability_map, log_odds_map, atol=1e-4, err_msg=f"{layer_name}, label {label}")
        cat_maps, dog_maps = probability_maps
        assert np.all(np.minimum(cat_maps, dog_maps) <= 1e-4), f"{layer_name}: the cat and dog maps overlap, no mirror"
    both = PHOTO_NAMES.index("both")
    cat_map = reference.grad_cam(two_class, photos[both:both + 1], 0, checks.GRAD_CAM_LAYERS[0])
    logit_map = reference.grad_cam(score_model, photos[both:both + 1], 0, checks.GRAD_CAM_LAYERS[0])
    assert np.abs(cat_map - logit_map).max() > 0.1


def test_cam_equals_grad_cam_of_the_logit_at_the_default_layer(imagenet_model, photos):
    """(c) EfficientNet-Lite0 ends in global average pooling and the dense layer `logits`, so at its
    last rectified layer α_k^c = w_k^c / 49: ReLU(Σ_k w_k^c A^k) / max equals Grad-CAM of z_c."""
    layer_name = notebook_parameters()[0]
    features = np.asarray(keras.Model(imagenet_model.inputs, imagenet_model.get_layer(layer_name).output)(
        photos, training=False), dtype=np.float64)                                   # (n, 7, 7, 1280)
    dense_weights = imagenet_model.get_layer("logits").get_weights()[0].astype(np.float64)   # (1280, 1000)
    top = np.asarray(imagenet_model(photos, training=False)).argmax(axis=1)
    for class_indices in (top, np.full(len(photos), 243), np.full(len(photos), 282)):   # top-1, Bullmastiff, tiger cat
        grad_cam_maps = reference.grad_cam(imagenet_model, photos, class_indices, layer_name)
        cams = np.maximum(np.einsum("nhwk,kn->nhw", features, dense_weights[:, class_indices]), 0)
        cams /= np.maximum(cams.max(axis=(1, 2), keepdims=True), 1e-12)
        assert cams.max() == pytest.approx(1)
        difference = np.abs(cams - grad_cam_maps).max()
        assert difference <= 1e-5, f"classes {class_indices.tolist()}: CAM and Grad-CAM differ by {difference:.2g}"
