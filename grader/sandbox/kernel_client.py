"""The kernelspec's command: ask the job's zygote (grader/sandbox/zygote.py) for a kernel and stand in for it.

``python -I -S grader/sandbox/kernel_client.py SPEC -- ipykernel -f CONNECTION ...`` (``SPEC`` is the
sandbox plan, or ``-`` for none; ``COMMAND`` other than ``ipykernel`` is ``exec``'d in the sandbox).
nbgrader sees this process as the kernel: its SIGINT and SIGTERM are passed on, its exit status is
the kernel's, and killing it kills the kernel. Standard library only, so it starts in milliseconds.

Two things of the grader's never reach the kernel through this process:

- its environment: only :func:`kernel_environment`'s variables are sent (the zygote never holds
  the rest, so no search of the kernel's memory finds them);
- its stdout and stderr, which the worker, the zygote and every other kernel share: the kernel
  writes into two pipes of its own, and this process relays the first :data:`RELAYED_BYTES` of
  each (bytes, not decoded) and drops the rest. A kernel that makes its pipe non-blocking, floods it
  or writes invalid UTF-8 into it affects only itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping

VARIABLE = "COURSE_KERNEL_SERVER"   # the zygote socket's path (grader.sandbox.zygote imports it from here)
CONNECT_SECONDS = 30
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
RELAYED_BYTES = 64 * 1024   # of one kernel's C-level output (TensorFlow's log lines, a crash's traceback)

KEPT_VARIABLES = ("PATH", "HOME", "TMPDIR", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "MPLBACKEND",
                  "MPLCONFIGDIR", "VIRTUAL_ENV", "TERM", "LD_LIBRARY_PATH")
KEPT_PREFIXES = ("LC_", "COURSE_", "TF_", "KERAS_", "OMP_", "MKL_", "JPY_", "JUPYTER_", "CUDA_")
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "KEY")   # dropped even so


def kernel_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The variables a kernel keeps: the course's and the libraries' settings (the names above),
    never one whose name says it is a secret (``JUPYTER_TOKEN``, ``COURSE_API_KEY``), and nothing
    else the instructor's shell holds."""
    return {name: value for name, value in environment.items()
            if (name in KEPT_VARIABLES or name.startswith(KEPT_PREFIXES))
            and not any(word in name.upper() for word in SECRET_WORDS)}


def _relay(read_end, stream, limit=RELAYED_BYTES):
    """Copy the kernel's output from ``read_end`` to ``stream`` (this process's stdout or stderr), up
    to ``limit`` bytes; read and drop the rest, so the kernel never blocks on a full pipe."""
    relayed = 0
    while True:
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        if relayed < limit:
            part = chunk[:limit - relayed]
            relayed += len(part)
            if relayed >= limit:
                part += f"\n[kernel output cut at {limit // 1024} KiB]\n".encode()
            try:
                stream.buffer.write(part)
                stream.buffer.flush()
            except OSError:
                relayed = limit
    os.close(read_end)


def _connect(socket_path):
    """A connection to the zygote's socket (it binds its socket a moment after it starts)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        try:
            server.connect(socket_path)
            return server
        except (FileNotFoundError, ConnectionRefusedError) as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"kernel_client: cannot reach the kernel server at {socket_path}: {error}")
            time.sleep(0.05)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: kernel_client.py SPEC|- -- COMMAND...")
    socket_path = os.environ.get(VARIABLE)
    if not socket_path:
        raise SystemExit(f"kernel_client: no kernel server ({VARIABLE} is not set)")
    request = {"spec": None if argv[0] == "-" else os.path.abspath(argv[0]), "command": argv[2:],
               "cwd": os.getcwd(), "environment": kernel_environment(os.environ)}
    server = _connect(socket_path)
    pipes = [os.pipe(), os.pipe()]   # the kernel's stdout and stderr
    socket.send_fds(server, [json.dumps(request).encode() + b"\n"], [write_end for _, write_end in pipes])
    relays = []
    # The relay threads block the forwarded signals (a thread inherits its creator's mask): a signal
    # the system handed to a relay would wait, unforwarded, until the main thread woke up (measured:
    # 1 interrupt in 9 lost until the cell ended).
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    for (read_end, write_end), stream in zip(pipes, (sys.stdout, sys.stderr)):
        os.close(write_end)
        relays.append(threading.Thread(target=_relay, args=(read_end, stream), daemon=True))
        relays[-1].start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)

    def forward(signal_number, frame):
        try:
            server.sendall(f"{signal_number}\n".encode())
        except OSError:
            pass

    for signal_number in FORWARDED:
        signal.signal(signal_number, forward)
    replies = server.makefile("rb")
    for line in replies:
        reply = json.loads(line)
        if "exit" in reply:
            for relay in relays:
                relay.join(timeout=2)
            code = reply["exit"]
            return code if code >= 0 else 128 - code
    raise SystemExit("kernel_client: the kernel server went away")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
