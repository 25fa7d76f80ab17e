"""helpers.training.fit_cached: the same training is done once, any change trains again."""

import keras
import numpy as np
import pytest

from helpers.seeding import set_seed
from helpers.training import fit_cached


def tiny_model(units=4, optimizer="adam"):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=64, shift=0.0):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32") + shift, rng.integers(0, 3, n)


@pytest.fixture
def fits(tmp_path, monkeypatch):
    """The cache in tmp_path; returns the list of the fits that really ran (their epochs)."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    calls, real_fit = [], keras.Model.fit

    def counting_fit(self, *args, **kwargs):
        calls.append(kwargs.get("epochs"))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", counting_fit)
    return calls


def train(seed=1, units=4, shift=0.0, optimizer="adam", before_fit=None, **arguments):
    """Seed, draw the data, build the tiny model, run ``before_fit()`` if given, then fit_cached."""
    set_seed(seed)
    x, y = data(shift=shift)
    model = tiny_model(units, optimizer)
    if before_fit:
        before_fit()
    arguments = {"epochs": 2, "batch_size": 16, "verbose": 0, **arguments}
    return model, fit_cached(model, x, y, **arguments)


def test_the_same_training_twice_is_loaded_the_second_time(fits, tmp_path, capsys):
    first, first_history = train()
    second, second_history = train(verbose=2)   # verbose does not count; layer names differ (dense_2...)
    assert fits == [2]
    assert [layer.name for layer in first.layers] != [layer.name for layer in second.layers]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first.optimizer.variables, second.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert second_history.history == first_history.history   # JSON keeps every float exactly
    assert second_history.epoch == [0, 1]
    assert "loaded from the course cache" in capsys.readouterr().out
    assert len(list(tmp_path.glob("fit-*.npz"))) == 1


def test_the_loaded_weights_are_those_training_gives(fits, tmp_path):
    """Op determinism: training again from scratch gives the weights the cache holds."""
    train()
    cached, _ = train()
    for path in tmp_path.glob("fit-*.npz"):
        path.unlink()
    retrained, _ = train()
    assert fits == [2, 2]
    for a, b in zip(cached.get_weights(), retrained.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change", [{"epochs": 3}, {"batch_size": 8}, {"seed": 2}, {"units": 5},
                                    {"shift": 0.5}, {"validation_split": 0.25}])
def test_any_change_trains_again(fits, change):
    train()
    train(**change)
    assert len(fits) == 2


def test_a_changed_optimizer_setting_trains_again(fits):
    train()
    train(optimizer=keras.optimizers.Adam(learning_rate=0.01))
    assert len(fits) == 2


def test_random_draws_before_training_count(fits):
    """A student who draws from TensorFlow's generator before fit changes the shuffling: train again."""
    import tensorflow as tf

    train()
    train(before_fit=lambda: tf.random.uniform([1]))
    assert len(fits) == 2


def test_callbacks_always_train(fits, tmp_path):
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0)
    train(callbacks=[stop])
    train(callbacks=[stop])
    assert len(fits) == 2
    assert list(tmp_path.glob("fit-*.npz")) == []


def test_a_read_only_cache_still_trains(fits, tmp_path, monkeypatch):
    """In the grader's sandbox the cache is read-only: training still returns a trained model."""
    monkeypatch.setattr(np, "savez", lambda path, **arrays: (_ for _ in ()).throw(OSError(30, "Read-only", path)))
    model, history = train()
    assert len(history.history["loss"]) == 2
    assert model.predict(np.zeros((2, 6), np.float32), verbose=0).shape == (2, 3)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_file_is_trained_again(fits, tmp_path):
    train()
    (path,) = tmp_path.glob("fit-*.npz")
    path.write_bytes(b"not a zip file")
    model, _ = train()
    assert len(fits) == 2
    assert np.load(path)["weight_0"].shape == (6, 4)
