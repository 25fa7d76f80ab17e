"""Listeners of the grading machine that a kernel must not reach: each records what it hears."""

import os
import socket
import threading
from pathlib import Path


def _serve(listener, heard):
    """Accept connections on ``listener`` until it is closed; append what each one sends to ``heard``."""
    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                heard.append(connection.recv(1 << 16) or b"(connected)")

    threading.Thread(target=serve, daemon=True).start()
    return listener


def tcp_listener(heard):
    """A TCP listener on this machine's 127.0.0.1."""
    return _serve(socket.create_server(("127.0.0.1", 0)), heard)


def unix_listener(path, heard):
    """A service's Unix socket at ``path`` that anyone may connect to (as a session bus or an agent)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    os.chmod(path, 0o666)
    listener.listen()
    return _serve(listener, heard)
