"""Grad-CAM speed: the batched reference against tf-keras-vis, one call per image and a forward pass.

Run: ``python benchmarks/bench_grad_cam.py [--batch-size 16] [--repeats 5] [--strict]``
(about 30 s on 2 CPU cores, offline). Every method gets the same 16 packaged photos
at 224×224 (the scikit-image/scikit-learn photos repeated), the same EfficientNet-Lite0
from ``helpers.models.imagenet_classifier()``, lesson 03's layer ``top_activation`` and each image's
top-1 class. Each method is warmed up once, then the best of ``--repeats`` interleaved rounds is kept
(2 rounds for the slower one-call-per-image loop, which is how a lesson's get_CAM is called).

Targets: the reference at least 5× faster than tf-keras-vis, and at most 1.25× the
time of one forward pass. ``--strict`` exits with status 1 when a target is missed.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from grader import reference  # noqa: E402
from helpers import images, models  # noqa: E402

LAYER_NAME = "top_activation"   # lesson 03's LAYER_NAME: the last block's rectified (ReLU6) output


def photo_batch(batch_size):
    """(batch_size, 224, 224, 3) uint8: the packaged photos repeated in order."""
    photos = [images.sample_photo(name) for name in images._sample_photo_names()]
    return np.stack([photos[index % len(photos)] for index in range(batch_size)])


def best_times(functions, repeats, slow_repeats=2):
    """name -> seconds of the fastest call, after one warm-up call of each.

    The repeats are interleaved (every method once per round) so that a busy machine
    slows all methods alike. Names ending with "(per image)" run in ``slow_repeats`` rounds only.
    """
    for function in functions.values():
        function()
    best = {name: float("inf") for name in functions}
    for round_index in range(repeats):
        for name, function in functions.items():
            if name.endswith("(per image)") and round_index >= slow_repeats:
                continue
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def methods(model, batch, class_indices):
    """name -> zero-argument function computing Grad-CAM (or the forward pass) on the whole batch."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import CategoricalScore

    gradcam = Gradcam(model, clone=False)
    score = CategoricalScore(list(class_indices))
    compiled_forward = tf.function(lambda inputs: model(inputs, training=False))
    return {
        "reference grad_cam (batched)": lambda: reference.grad_cam(model, batch, class_indices, LAYER_NAME),
        # seek_penultimate_conv_layer=False: tf-keras-vis would otherwise move from a ReLU to the conv before it.
        "tf-keras-vis Gradcam (7x7)": lambda: gradcam(
            score, batch, penultimate_layer=LAYER_NAME, seek_penultimate_conv_layer=False, expand_cam=False,
            normalize_cam=True
        ),
        "tf-keras-vis Gradcam (default, 224x224)": lambda: gradcam(
            score, batch, penultimate_layer=LAYER_NAME, seek_penultimate_conv_layer=False),
        "reference grad_cam (per image)": lambda: [
            reference.grad_cam(model, batch[index:index + 1], int(label), LAYER_NAME)
            for index, label in enumerate(class_indices)
        ],
        "forward pass, model(x)": lambda: model(batch, training=False).numpy(),
        "forward pass, tf.function": lambda: compiled_forward(batch).numpy(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    arguments = parser.parse_args()

    model = models.imagenet_classifier()
    batch = models.imagenet_preprocess(photo_batch(arguments.batch_size))
    class_indices = np.argmax(model(batch, training=False).numpy(), axis=-1)
    print(f"{arguments.batch_size} images 224x224, layer {LAYER_NAME}, {os.cpu_count()} CPU cores, "
          f"best of {arguments.repeats} after one warm-up\n")

    seconds = best_times(methods(model, batch, class_indices), arguments.repeats)
    for name, value in seconds.items():
        print(f"{name:<42}{value:>9.3f} s")

    ours = seconds["reference grad_cam (batched)"]
    versus_tf_keras_vis = seconds["tf-keras-vis Gradcam (7x7)"] / ours
    versus_per_image = seconds["reference grad_cam (per image)"] / ours
    versus_forward = ours / seconds["forward pass, model(x)"]
    versus_compiled = ours / seconds["forward pass, tf.function"]
    print(f"\ntf-keras-vis / reference      = {versus_tf_keras_vis:6.1f}x   (target >= 5)")
    print(f"per image / batched           = {versus_per_image:6.1f}x")
    print(f"reference / forward model(x)  = {versus_forward:6.2f}x   (target <= 1.25)")
    print(f"reference / forward tf.function = {versus_compiled:4.2f}x")
    met = versus_tf_keras_vis >= 5 and versus_forward <= 1.25
    print("targets met" if met else "TARGET MISSED")
    return 0 if met or not arguments.strict else 1


if __name__ == "__main__":
    sys.exit(main())
