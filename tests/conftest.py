"""Shared test set-up: offline by default, quiet TensorFlow, and quiet notebooks.

nbval runs the solution notebooks (``testpaths`` in pyproject.toml). A cell that writes
anything to stderr fails (:class:`NbvalQuietPlugin`): a student would see it as a red block.
"""

import os

import pytest

from tools.execute_solutions import stderr_texts

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # this process's own TensorFlow; each notebook imports helpers.quiet
os.environ.setdefault("MPLBACKEND", "Agg")

STDERR_SHOWN_CHARACTERS = 2000
VARIABLES_KEPT_FROM_KERNELS = ("PYTEST_CURRENT_TEST", "TF_CPP_MIN_LOG_LEVEL")




def is_nbval_cell(item):
    return type(item).__name__ == "IPyNbCell"


def kernel_started_outside_pytest_marker(setup):
    """Wrap an nbval notebook's ``setup`` (which starts its kernel) so the kernel forwards file descriptor 2.

    ipykernel forwards what C++ code writes to file descriptor 2 (TensorFlow's and absl's log
    lines) as a stderr stream, as Jupyter shows it, except when ``PYTEST_CURRENT_TEST`` is in
    its environment: then those lines would escape the check. The kernel is started without it,
    and without this process's ``TF_CPP_MIN_LOG_LEVEL``, which a student's Jupyter does not set.
    """
    def setup_without_marker():
        saved = {name: os.environ.pop(name) for name in VARIABLES_KEPT_FROM_KERNELS if name in os.environ}
        try:
            return setup()
        finally:
            os.environ.update(saved)

    return setup_without_marker


class NbvalQuietPlugin:
    """Fail an nbval cell whose execution wrote to stderr (TensorFlow/absl lines, warnings).

    nbval keeps the outputs a cell produced in this run in ``item.test_outputs`` (its
    ``IPyNbCell.runtest``), whether or not the cell's outputs are compared. Registered in
    :func:`pytest_configure`, so it applies to every nbval item of the run, ``solutions/``
    included, whenever this conftest is loaded (``pytest`` with no arguments, or with
    ``tests/`` among them). Each notebook's kernel is started so that it forwards C++ lines
    written to file descriptor 2, as Jupyter does (:func:`kernel_started_outside_pytest_marker`).
    """

    def pytest_collection_modifyitems(self, session, config, items):
        for notebook_file in {id(item.parent): item.parent for item in items if is_nbval_cell(item)}.values():
            notebook_file.setup = kernel_started_outside_pytest_marker(notebook_file.setup)
            skip = getattr(notebook_file, "skip_compare", None)
            if skip is not None and "stderr" not in skip:  # reported by this plugin instead, more clearly
                notebook_file.skip_compare = tuple(skip) + ("stderr",)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        result = yield  # a cell that raised has failed already; its exception goes on up
        texts = stderr_texts(getattr(item, "test_outputs", None))
        if texts:
            shown = "".join(texts)
            if len(shown) > STDERR_SHOWN_CHARACTERS:
                shown = shown[:STDERR_SHOWN_CHARACTERS] + "\n[...]"
            pytest.fail(
                "the cell wrote to stderr, which a student sees as a red block; make it quiet "
                "(`import helpers.quiet` first in the Setup cell, or fix what warns):\n" + shown,
                pytrace=False,
            )
        return result


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("nbval-quiet"):
        config.pluginmanager.register(NbvalQuietPlugin(), "nbval-quiet")
