import subprocess
import sys
import time

import psutil

from grader.sandbox.processes import kill_tree, over_memory_limit, process_tree, run_with_limits, tree_memory_bytes


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


def test_the_quick_memory_check_answers_as_the_proportional_count_does():
    """A parent and a forked child share 300 MB copy-on-write, and the child holds a 64 MB memfd it
    never maps: their resident sizes count the shared pages twice, their PSS once. Around each of
    the two sums, over_memory_limit gives tree_memory_bytes's answer."""
    code = ("import os, sys, time\nimport numpy as np\nshared = np.ones(300 * 2**20 // 8)\n"
            "if os.fork() == 0:\n    fd = os.memfd_create('held')\n    os.write(fd, b'x' * 64 * 2**20)\n"
            "    time.sleep(60)\n    os._exit(0)\nprint('ready', flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        time.sleep(1)   # the child has written its memfd
        proportional = tree_memory_bytes(process.pid)
        resident = sum(p.memory_info().rss for p in process_tree(process.pid))
        assert resident > proportional + 250 * 2**20, (resident, proportional)   # the shared pages, twice
        assert proportional > 360 * 2**20   # 300 MB once, and the memfd
        for limit in (proportional - 2**25, proportional + 2**25, resident - 2**25, resident + 2**27):
            assert over_memory_limit(process.pid, limit) == (tree_memory_bytes(process.pid) > limit), limit
        assert over_memory_limit(process.pid, proportional - 2**25)
        assert not over_memory_limit(process.pid, proportional + 2**25)   # under the RSS, over the PSS
    finally:
        kill_tree(process.pid)
        process.wait()
