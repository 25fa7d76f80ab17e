"""The C library's calls the sandbox needs and their constants (Linux), in one place.

:mod:`grader.sandbox.namespaces` (mounts), :mod:`grader.sandbox.zygote` (namespaces, keyring,
capabilities, parent-death signal) and :mod:`grader.sandbox.doctor` (which probes their steps)
all call the C library through :func:`load`, with the constants below (their values are the
kernel's, from ``<linux/sched.h>``, ``<sys/mount.h>``, ``<linux/prctl.h>``, ``<linux/keyctl.h>``).
Standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache

# unshare(2): new namespaces
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC = 0x08000000

# mount(2) flags
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21

# prctl(2) options
PR_SET_PDEATHSIG, PR_SET_NAME, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 15, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# keyctl(2), called through syscall(2): its number depends on the machine (None: unknown here)
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
KEYCTL_JOIN_SESSION_KEYRING = 1

# capset(2)
LINUX_CAPABILITY_VERSION_3 = 0x20080522


@lru_cache(maxsize=1)
def load() -> ctypes.CDLL:
    """The C library, loaded once (``errno`` kept for :func:`ctypes.get_errno`)."""
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def check(result: int, what: str) -> None:
    """Raise OSError (errno and its text, after ``what``) when a C call returned non-zero."""
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); an OSError that names the source and the target when it fails."""
    def encode(text):
        return text.encode() if text is not None else None

    if load().mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"sandbox: cannot mount {source or ''} on {target}: {os.strerror(error)}")
