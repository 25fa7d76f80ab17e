"""Shared test set-up: offline by default, quiet TensorFlow, nbval without stderr comparison."""

import os

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(session, config, items):
    """nbval compares a checked cell's stderr too; TensorFlow's log lines make that flaky."""
    for item in items:
        notebook_file = item.parent
        skip = getattr(notebook_file, "skip_compare", None)
        if skip is not None and "stderr" not in skip:
            notebook_file.skip_compare = tuple(skip) + ("stderr",)
