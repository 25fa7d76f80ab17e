"""Training that is done once: :func:`fit_cached` (lesson 01, and lesson 01's network in 04 and 05).

A second run of the same training – the same seed, data, architecture, initial weights, compile
settings, ``fit`` arguments and library versions – loads the weights the first run saved in the
course cache instead of training again. Change any of them (a hyperparameter, a layer, the seed)
and the network trains as usual.
"""

import hashlib
import json
import random

import keras
import numpy as np
import tensorflow as tf
from keras.src.backend.common import global_state

FORMAT = "fit_cached-1"   # bump when what the key covers or the file layout changes


def _random_states():
    """The random-number states training draws from (read without advancing them)."""
    states = [repr(random.getstate()), np.random.get_state()[1].tobytes().hex()]
    try:  # TensorFlow's per-op seeds (shuffling) come from the eager context's own generator
        from tensorflow.python.eager import context
        states.append(repr(context.context()._rng.getstate()) if context.context()._rng else "no tf seed")
    except (ImportError, AttributeError):
        states.append("unknown tf seed")
    generator = global_state.get_global_attribute("global_seed_generator")
    states.append(repr(None if generator is None else np.asarray(generator.state.numpy()).tolist()))
    return states


def _without_names(value):
    """``value`` (a config) without its "name" entries: layer and optimizer names do not change training."""
    if isinstance(value, dict):
        return {key: _without_names(item) for key, item in value.items() if key != "name"}
    if isinstance(value, list):
        return [_without_names(item) for item in value]
    return value


def training_key(model, x, y, fit_arguments):
    """A hash of everything that determines the weights ``model.fit(x, y, **fit_arguments)`` gives."""
    digest = hashlib.sha256(f"{FORMAT}|keras {keras.__version__}|tf {tf.__version__}".encode())
    settings = [_without_names(model.get_config()), _without_names(model.get_compile_config()),
                {name: value for name, value in fit_arguments.items() if name != "verbose"}, _random_states()]
    digest.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    for array in [*(variable.numpy() for variable in model.weights), np.asarray(x), np.asarray(y)]:
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:24]


def _save(path, model, history):
    arrays = {f"weight_{i}": variable.numpy() for i, variable in enumerate(model.weights)}
    arrays.update({f"optimizer_{i}": variable.numpy() for i, variable in enumerate(model.optimizer.variables)})
    arrays["history"] = np.array(json.dumps({"params": history.params, "history": history.history}))
    np.savez(path, **arrays)


def _load(path, model):
    """Set ``model``'s weights and optimizer state from ``path``; return the saved History."""
    with np.load(path) as saved:
        model.set_weights([saved[f"weight_{i}"] for i in range(len(model.weights))])
        model.optimizer.build(model.trainable_variables)
        for i, variable in enumerate(model.optimizer.variables):
            variable.assign(saved[f"optimizer_{i}"])
        recorded = json.loads(str(saved["history"]))
    history = keras.callbacks.History()
    history.set_model(model)
    history.params, history.history = recorded["params"], recorded["history"]
    history.epoch = list(range(len(next(iter(history.history.values()), []))))
    return history


def fit_cached(model, x, y, **fit_arguments):
    """``model.fit(x, y, **fit_arguments)``, done once per set of inputs; returns the History.

    ``x``: array (n, ...); ``y``: array (n, ...). The key (:func:`training_key`) covers the seed
    (Python's, NumPy's, TensorFlow's and Keras' random states), ``x`` and ``y``, the architecture
    and initial weights, the compile settings, every ``fit`` argument but ``verbose``, and the
    Keras and TensorFlow versions. The weights, the optimizer state and the history are kept in
    the course cache as ``fit-<key>.npz``. With callbacks the network always trains (they can
    stop or change training in ways the key cannot see). A read-only cache only costs the
    training next time.
    """
    from helpers._cache import cache_dir, write_atomically

    if fit_arguments.get("callbacks"):
        return model.fit(x, y, **fit_arguments)
    path = cache_dir() / f"fit-{training_key(model, x, y, fit_arguments)}.npz"
    if path.is_file():
        try:
            history = _load(path, model)
        except Exception:  # a damaged file: train again below
            path.unlink(missing_ok=True)
        else:
            if fit_arguments.get("verbose", "auto") != 0:
                last = {name: round(values[-1], 4) for name, values in history.history.items()}
                print(f"Trained before with these exact settings: the weights after {len(history.epoch)} epochs "
                      f"are loaded from the course cache ({path.name}). Last epoch: {last}")
            return history
    history = model.fit(x, y, **fit_arguments)
    try:
        write_atomically(path, lambda temporary: _save(temporary, model, history))
    except OSError:
        pass   # a read-only cache (as when a notebook is graded): nothing to keep
    return history
