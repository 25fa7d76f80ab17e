import io
from contextlib import redirect_stdout

import numpy as np

from helpers.models import build_gap_cnn, print_layer_table
from helpers.seeding import set_seed

# SEEDS.md section 1, copied from the lecture's summary.
LECTURE_SUMMARY = [
    ("conv2d", "Conv2D", (28, 28, 16), 160),
    ("max_pooling2d", "MaxPooling2D", (14, 14, 16), 0),
    ("conv2d_1", "Conv2D", (14, 14, 32), 4640),
    ("max_pooling2d_1", "MaxPooling2D", (7, 7, 32), 0),
    ("conv2d_2", "Conv2D", (7, 7, 64), 18496),
    ("max_pooling2d_2", "MaxPooling2D", (3, 3, 64), 0),
    ("conv2d_3", "Conv2D", (3, 3, 128), 73856),
    ("global_average_pooling2d", "GlobalAveragePooling2D", (128,), 0),
    ("dense", "Dense", (10,), 1290),
]


def layer_rows(model):
    """``(name, class name, output shape without batch, parameters)`` of each layer."""
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers]


def test_gap_cnn_matches_the_lecture_layer_by_layer():
    model = build_gap_cnn()
    assert layer_rows(model) == LECTURE_SUMMARY
    assert model.count_params() == 98_442


def test_layer_names_do_not_drift_when_built_twice():
    build_gap_cnn()
    assert [row[0] for row in layer_rows(build_gap_cnn())] == [row[0] for row in LECTURE_SUMMARY]


def test_keras_summary_shows_the_lecture_rows():
    lines = []
    build_gap_cnn().summary(print_fn=lambda line, **kwargs: lines.append(line))
    text = "\n".join(lines)
    rows = text.splitlines()
    for name, kind, shape, params in LECTURE_SUMMARY:
        # A row is "│ name (Kind) │ (None, ...) │ params │"; a long "(Kind)" wraps onto the next line.
        at = next((i for i, line in enumerate(rows) if line.startswith(f"│ {name} ")), None)
        assert at is not None, f"no row for layer '{name}' in the summary:\n{text}"
        assert f"({kind})" in rows[at] + rows[at + 1], f"layer '{name}' is not a {kind}"
        assert str((None,) + shape) in rows[at] and rows[at].rstrip(" │").endswith(f" {params:,}"), rows[at]
    assert "98,442" in text


def test_plain_layer_table_prints_every_layer():
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        print_layer_table(build_gap_cnn())
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 + len(LECTURE_SUMMARY) + 1
    for line, (name, kind, shape, params) in zip(lines[1:], LECTURE_SUMMARY):
        assert line.split()[:2] == [name, kind] and str((None,) + shape) in line and line.endswith(f"{params:,}")
    assert lines[-1] == "total parameters: 98,442"


def test_output_is_a_probability_distribution():
    probabilities = build_gap_cnn()(np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)).numpy()
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def _train_once(x, y):
    set_seed(7)
    model = build_gap_cnn()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return [w.copy() for w in model.get_weights()]


def test_set_seed_makes_cpu_training_repeatable():
    rng = np.random.default_rng(3)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    first, second = _train_once(x, y), _train_once(x, y)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    set_seed(8)
    other = build_gap_cnn().get_weights()
    assert not np.array_equal(other[0], first[0])
