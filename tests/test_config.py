"""grader.config.GradingConfig: validated once, and the results journal's key text of earlier versions.

The keys below were computed by the code before the config object existed (autograde() built a
6-tuple of limits that results.result_key joined with "|"); a result saved then must be reused now.
"""

from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.config import GradingConfig
from grader.errors import UsageError
from grader.pipeline.autograde import autograde
from grader.pipeline.results import result_key


def _submission(tmp_path):
    path = Path(tmp_path) / "a.ipynb"
    path.write_text('{"cells": []}\n')
    return SimpleNamespace(path=path)


@pytest.mark.parametrize("options, text, key", [
    ({}, "600.0|8589934592|200|1073741824|256|100000",
     "d97bbf5960aa5e1dc9e889170b8febe0df2873898e7317bbec1277eb39cb1eb3"),
    ({"timeout_seconds": 600, "memory_limit_gib": 4, "cell_timeout_seconds": 20},
     "600|4294967296|20|1073741824|256|100000", "e760b78dbb20e1fe3d2dcce42f1c23c498d89f9a597b3e10c0ac544a195d6bda"),
    ({"timeout_seconds": 90, "memory_limit_gib": 4}, "90|4294967296|30|1073741824|256|100000",
     "dec11a982157cda21adc46059625e6fa42069740b55a318b4092033eaf197181"),
])
def test_the_result_key_is_the_one_saved_before_the_config_object(tmp_path, options, text, key):
    config = GradingConfig(**options)
    assert config.key() == text
    assert result_key(_submission(tmp_path), "src|sandboxed", config) == key


def test_run_options_do_not_change_the_key(tmp_path):
    plain = GradingConfig(timeout_seconds=90)
    other = GradingConfig(timeout_seconds=90, jobs=2, fresh=True, students=["ann"], isolate="off", progress=False)
    assert result_key(_submission(tmp_path), "s", plain) == result_key(_submission(tmp_path), "s", other)


def test_the_cell_limit_defaults_to_a_third_of_the_notebook_limit():
    assert GradingConfig(timeout_seconds=600).cell_timeout_seconds == 200
    assert GradingConfig(timeout_seconds=2).cell_timeout_seconds == 1.0
    assert GradingConfig(timeout_seconds=600, cell_timeout_seconds=20).cell_timeout_seconds == 20
    assert GradingConfig().kernel_limits() == {"disk_bytes": 2**30, "processes": 256, "files": 100_000}


@pytest.mark.parametrize("options", [{"timeout_seconds": 0}, {"cell_timeout_seconds": -1}, {"memory_limit_gib": 0},
                                     {"disk_limit_gib": 0}, {"jobs": 0}, {"max_processes": 15}, {"max_files": 99}])
def test_a_limit_out_of_range_is_a_usage_error(options):
    with pytest.raises(UsageError, match="must be positive, --jobs at least 1"):
        GradingConfig(**options)


@pytest.mark.parametrize("shard", [(2, 2), (1, 0), (-1, 2)])
def test_a_shard_out_of_range_is_a_usage_error(shard):
    with pytest.raises(UsageError, match=r"--shard K/N needs 0 <= K < N"):
        GradingConfig(shard=shard)


def test_the_config_cannot_change():
    config = GradingConfig()
    with pytest.raises(AttributeError):
        config.jobs = 2


def test_autograde_called_with_a_bad_limit_says_so_and_returns_2(tmp_path, capsys):
    assert autograde(tmp_path / "nowhere", tmp_path / "course", jobs=0) == 2
    assert capsys.readouterr().out == ("error: --timeout, --cell-timeout, --memory-limit and --disk-limit must be "
                                       "positive, --jobs at least 1, --max-processes at least 16 and --max-files at "
                                       "least 100\n")
