"""Run a command under a wall-clock limit and a memory cap; kill everything it started when
a limit is crossed (Jupyter kernels start new sessions, so the whole process tree is tracked)."""

import collections
import shutil
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import psutil

POLL_SECONDS = 0.2
KEPT_OUTPUT_CHUNKS = 64   # of up to 64 KiB: the last 4 MiB of a command's output are kept


def die_with_parent():
    """The command prefix that kills a process when its parent dies (empty where unavailable)."""
    return ["setpriv", "--pdeathsig", "KILL"] if sys.platform.startswith("linux") and shutil.which("setpriv") else []


def process_tree(pid):
    """The process ``pid`` and all its descendants that are still alive."""
    try:
        parent = psutil.Process(pid)
        return [parent] + parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def tree_memory_bytes(pid):
    """Memory of ``pid`` and its descendants, in bytes: the sum of their proportional set sizes
    (PSS), so pages that forked kernels share with their zygote are counted once, not per process."""
    total = 0
    for process in process_tree(pid):
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def kill_tree(pid):
    """Kill process ``pid`` and all its descendants."""
    processes = process_tree(pid)
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def run_with_limits(command, cwd=None, env=None, timeout_seconds=None, memory_limit_bytes=None):
    """Run ``command`` (stderr merged into stdout) and watch it.

    Returns an object with ``returncode`` (None when killed), ``stdout``, ``timed_out``
    (ran past ``timeout_seconds``) and ``out_of_memory`` (its process tree's resident
    memory went past ``memory_limit_bytes``).
    """
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    chunks = collections.deque(maxlen=KEPT_OUTPUT_CHUNKS)   # the last few MB: output is read, not hoarded

    def read():
        for chunk in iter(lambda: process.stdout.read1(65536), b""):
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started, timed_out, out_of_memory = time.monotonic(), False, False
    while process.poll() is None:
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            timed_out = True
        elif memory_limit_bytes is not None and tree_memory_bytes(process.pid) > memory_limit_bytes:
            out_of_memory = True
        if timed_out or out_of_memory:
            kill_tree(process.pid)
            break
        time.sleep(POLL_SECONDS)
    process.wait()
    reader.join(timeout=10)
    killed = timed_out or out_of_memory
    stdout = b"".join(chunks).decode("utf-8", errors="replace")
    return SimpleNamespace(returncode=None if killed else process.returncode, stdout=stdout,
                           timed_out=timed_out, out_of_memory=out_of_memory)

