"""Run a command with a wall-clock limit and kill everything it started when time is up."""

import subprocess
from types import SimpleNamespace

import psutil


def kill_tree(pid):
    """Kill process ``pid`` and all its descendants (Jupyter kernels start new sessions, so
    killing the process group is not enough)."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    processes = parent.children(recursive=True) + [parent]
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def run_with_timeout(command, cwd=None, env=None, timeout_seconds=None):
    """Run ``command``; return an object with ``returncode`` (None on timeout) and ``stdout``.

    stderr is merged into stdout.
    """
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        output, _ = process.communicate(timeout=timeout_seconds)
        return SimpleNamespace(returncode=process.returncode, stdout=output, timed_out=False)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        output, _ = process.communicate()
        return SimpleNamespace(returncode=None, stdout=output, timed_out=True)
