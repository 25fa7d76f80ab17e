"""Run a command under a wall-clock limit and a memory cap; kill everything it started when
a limit is crossed (Jupyter kernels start new sessions, so the whole process tree is tracked)."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import psutil

POLL_SECONDS = 0.2
MEMORY_POLL_SECONDS = 0.5   # a check of a tree holding TensorFlow reads its /proc maps: about 10 ms per process
KEPT_OUTPUT_CHUNKS = 64   # of up to 64 KiB: the last 4 MiB of a command's output are kept


def die_with_parent() -> list[str]:
    """The command prefix that kills a process when its parent dies (empty where unavailable)."""
    return ["setpriv", "--pdeathsig", "KILL"] if sys.platform.startswith("linux") and shutil.which("setpriv") else []


def process_tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and all its descendants that are still alive."""
    try:
        parent = psutil.Process(pid)
        return [parent] + parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def tree_memory_bytes(pid: int) -> int:
    """Memory of ``pid`` and its descendants, in bytes: the sum of their proportional set sizes
    (PSS), so pages that forked kernels share with their zygote are counted once, not per process,
    and the memory they hold outside their address space (:func:`held_outside_bytes`)."""
    processes = process_tree(pid)
    return _summed(processes, "pss") + held_outside_bytes([process.pid for process in processes])


def over_memory_limit(pid: int, limit_bytes: int) -> bool:
    """Whether ``tree_memory_bytes(pid) > limit_bytes``, at a fraction of its cost.

    A process's proportional set size walks every page it maps: about 30 ms for a process holding
    TensorFlow, so a worker, its zygote and a kernel polled five times a second took a third of a
    core. Its resident set size (``/proc/PID/statm``, microseconds) is never smaller than its PSS,
    so the PSS is summed only when the RSS of the tree (with what it holds outside its address
    space) crosses the limit: the same answer, computed in full only near the limit."""
    processes = process_tree(pid)
    held = held_outside_bytes([process.pid for process in processes])
    return held + _summed(processes, "rss") > limit_bytes and held + _summed(processes, "pss") > limit_bytes


def _summed(processes, field):
    """The sum of ``field`` ("rss": statm, cheap; "pss": every page walked) over ``processes``, in
    bytes; a process that has gone or cannot be read counts 0."""
    total = 0
    for process in processes:
        try:
            info = process.memory_full_info() if field == "pss" else process.memory_info()
            total += getattr(info, field)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class MemoryWatch:
    """:func:`over_memory_limit` of ``pid``'s tree, checked at most every MEMORY_POLL_SECONDS
    (:meth:`over` says False in between, and always when ``limit_bytes`` is None)."""

    def __init__(self, pid: int, limit_bytes: int | None) -> None:
        self.pid, self.limit_bytes = pid, limit_bytes
        self.next_check = time.monotonic() + MEMORY_POLL_SECONDS

    def over(self) -> bool:
        if self.limit_bytes is None or time.monotonic() < self.next_check:
            return False
        self.next_check = time.monotonic() + MEMORY_POLL_SECONDS
        return over_memory_limit(self.pid, self.limit_bytes)


def held_outside_bytes(pids: list[int]) -> int:
    """Bytes that ``pids`` hold in files of memory rather than in their pages: every memfd they have
    open or mapped (``memfd_create``; counted once each, mapped pages perhaps twice), and the
    private tmpfs (``/tmp``, ``/dev/shm``) of each sandbox they run in, that is of each mount
    namespace other than this process's. (System V memory is switched off in the sandbox.)"""
    memfds, tmpfs = {}, {}
    own_namespace, own_tmp = _inode("/proc/self/ns/mnt"), _device("/tmp")
    for pid in pids:
        for path in _memfd_paths(pid):
            try:
                info = os.stat(path)
                memfds[(info.st_dev, info.st_ino)] = info.st_blocks * 512
            except OSError:
                pass
        if _inode(f"/proc/{pid}/ns/mnt") not in (own_namespace, None):
            device = _device(f"/proc/{pid}/root/tmp")
            if device not in (own_tmp, None) and device not in tmpfs:
                try:
                    usage = os.statvfs(f"/proc/{pid}/root/tmp")
                    tmpfs[device] = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
                except OSError:
                    pass
    return sum(memfds.values()) + sum(tmpfs.values())


def _memfd_paths(pid):
    """``/proc`` paths through which the memfds of ``pid`` can be stat'ed: its descriptors and its
    mappings (a memfd closed after ``mmap`` lives on in the mapping)."""
    paths = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                paths.append(f"/proc/{pid}/fd/{fd}")
        with open(f"/proc/{pid}/maps") as handle:
            for line in handle:
                if "/memfd:" in line:
                    paths.append(f"/proc/{pid}/map_files/{line.split()[0]}")
    except OSError:
        pass
    return paths


def _inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _device(path):
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def kill_tree(pid: int) -> None:
    """Kill process ``pid`` and all its descendants."""
    processes = process_tree(pid)
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def run_with_limits(command: list[str], cwd: str | os.PathLike | None = None, env: dict[str, str] | None = None,
                    timeout_seconds: float | None = None, memory_limit_bytes: int | None = None) -> SimpleNamespace:
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
    memory = MemoryWatch(process.pid, memory_limit_bytes)
    while process.poll() is None:
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            timed_out = True
        else:
            out_of_memory = memory.over()
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

