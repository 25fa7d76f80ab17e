import sys
import time

import psutil

from grader.sandbox.processes import run_with_limits


def test_a_quick_command_returns_its_output_and_code():
    result = run_with_limits([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], timeout_seconds=30)
    assert result.returncode == 3 and result.stdout.strip() == "hi"
    assert not result.timed_out and not result.out_of_memory


def test_a_hanging_tree_is_killed_at_the_timeout():
    code = ("import subprocess, sys, time; "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
            "print(child.pid, flush=True); time.sleep(600)")
    started = time.monotonic()
    result = run_with_limits([sys.executable, "-c", code], timeout_seconds=2)
    assert result.timed_out and result.returncode is None
    assert time.monotonic() - started < 15
    child_pid = int(result.stdout.split()[0])
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE


def test_memory_past_the_cap_is_stopped():
    code = "import numpy as np\nhog = []\nwhile True:\n    hog.append(np.ones(10**7))"
    result = run_with_limits([sys.executable, "-c", code], timeout_seconds=60, memory_limit_bytes=400 * 2**20)
    assert result.out_of_memory and not result.timed_out and result.returncode is None


def test_only_the_last_megabytes_of_output_are_kept():
    code = "import sys\nfor i in range(300_000):\n    sys.stdout.write(f'line {i:06d} ' + 'x' * 60 + '\\n')"
    result = run_with_limits([sys.executable, "-c", code], timeout_seconds=60)   # about 21 MB
    assert result.returncode == 0
    assert len(result.stdout) <= 64 * 65536
    assert result.stdout.rstrip().endswith("line 299999 " + "x" * 60)
