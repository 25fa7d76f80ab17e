"""The kernelspec's command: ask the job's zygote (grader/zygote.py) for a kernel and stand in for it.

``python -I -S grader/kernel_client.py SPEC -- ipykernel -f CONNECTION ...`` (``SPEC`` is the
sandbox plan, or ``-`` for none; ``COMMAND`` other than ``ipykernel`` is ``exec``'d in the sandbox).
nbgrader sees this process as the kernel: its SIGINT and SIGTERM are passed on, its exit status is
the kernel's, and killing it kills the kernel. Standard library only, so it starts in milliseconds.
"""

import json
import os
import signal
import socket
import sys
import time

VARIABLE = "COURSE_KERNEL_SERVER"   # the same name as grader.zygote.VARIABLE
CONNECT_SECONDS = 30
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: kernel_client.py SPEC|- -- COMMAND...")
    socket_path = os.environ.get(VARIABLE)
    if not socket_path:
        raise SystemExit(f"kernel_client: no kernel server ({VARIABLE} is not set)")
    request = {"spec": None if argv[0] == "-" else os.path.abspath(argv[0]), "command": argv[2:],
               "cwd": os.getcwd(), "environment": dict(os.environ)}
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:   # the zygote binds its socket a moment after it starts
        try:
            server.connect(socket_path)
            break
        except (FileNotFoundError, ConnectionRefusedError) as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"kernel_client: cannot reach the kernel server at {socket_path}: {error}")
            time.sleep(0.05)
    socket.send_fds(server, [json.dumps(request).encode() + b"\n"], [1, 2])

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
            code = reply["exit"]
            return code if code >= 0 else 128 - code
    raise SystemExit("kernel_client: the kernel server went away")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
