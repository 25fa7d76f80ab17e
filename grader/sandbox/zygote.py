"""Kernels forked from a process that has imported TensorFlow already (a "zygote").

Every lesson's Setup cell imports TensorFlow and Keras: 7.5 s of CPU in a fresh Python, more
than half of what grading an 01 notebook costs. Each job's worker therefore starts one
``python -m grader.sandbox.zygote SOCKET`` that imports them once (:data:`PRELOAD`; importing starts
no TensorFlow thread pool, so a fork is safe) and then forks one kernel per notebook:

1. nbgrader starts the kernelspec's command, ``python grader/sandbox/kernel_client.py SPEC -- ipykernel
   -f CONNECTION`` (stdlib only, about 20 ms), which sends its request (spec, arguments, working
   folder, environment) and its stdout and stderr to the zygote's Unix socket;
2. the zygote forks a **supervisor**; with a sandbox ``SPEC``, the supervisor's child enters new
   user, mount, PID, network and IPC namespaces, the supervisor maps its ids from outside, and the
   child forks the **kernel**, PID 1 of its namespace (without one, the child is the kernel);
3. the kernel joins a new session keyring, builds the sandbox's file system view
   (:func:`grader.sandbox.namespaces.enter`), switches System V IPC off, gives up all capabilities, takes
   the kernel's environment, forgets the zygote (its ``grader`` modules, its matplotlib backend)
   and runs ipykernel, or ``exec``s another command;
4. the supervisor forwards the client's signals (SIGINT interrupts a cell) and reports the
   kernel's exit; when the client goes (nbgrader killed it), the supervisor kills the kernel.

Each kernel is still a fresh process for its notebook: nothing it does reaches the zygote or
another kernel (copy-on-write memory). Nothing of the grader's is in its memory either: the client
sends only the kernel's variables, and its stdout and stderr are pipes of its own that the client
relays (:mod:`grader.sandbox.kernel_client`); it keeps no descriptor but those. Every process here
dies with its parent (parent-death signals), so nothing outlives a killed worker. A kernel's
process name is ``course-kernel``.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence

from grader.sandbox import libc
from grader.sandbox import namespaces as sandbox
from grader.sandbox.kernel_client import VARIABLE  # noqa: F401  (the socket's path, in the worker's environment)
from grader.sandbox.libc import check
from grader.sandbox.processes import die_with_parent

PRELOAD = ("helpers.quiet", "ipykernel.kernelapp")   # TensorFlow, Keras, NumPy, matplotlib, ipykernel
KERNEL_PROCESS_NAME = b"course-kernel"
NOBODY = 65534   # the kernel's user outside its namespace when the grader runs as root
NAMESPACES = libc.CLONE_NEWUSER | libc.CLONE_NEWNS | libc.CLONE_NEWPID | libc.CLONE_NEWNET | libc.CLONE_NEWIPC
# System V IPC is switched off in the kernel's own IPC namespace (no course code uses it): shared
# memory and message queues that outlive their process would hold memory no limit counts.
_IPC_LIMITS = {"shmmax": "0", "shmall": "0", "shmmni": "0", "msgmni": "0", "sem": "0 0 0 0"}


def _die_with_parent(alive_pipe=None):
    """SIGKILL this process when its parent dies; exit now if it died already (``alive_pipe``: the
    read end of a pipe whose write end only the parent holds)."""
    check(libc.load().prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if alive_pipe is not None and select.select([alive_pipe], [], [], 0)[0]:
        os._exit(1)


# ---------------------------------------------------------------- the zygote

def serve(socket_path: str, preload: Sequence[str] = PRELOAD) -> None:
    """Import ``preload``, then fork a supervisor for every connection to ``socket_path``."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)   # bound first: clients wait in the backlog while TensorFlow loads
    os.chmod(socket_path, 0o600)
    listener.listen(64)
    for module in preload:
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # supervisors are reaped by the system
    zygote = os.getpid()
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _die_with_parent()
                if os.getppid() != zygote:
                    os._exit(1)
                code = _supervise(connection)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        connection.close()


def _receive(connection):
    """The client's request (a JSON line) and the two file descriptors sent with it."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 2)
    while not data.endswith(b"\n"):
        more = connection.recv(1 << 16)
        if not more:
            raise ConnectionError("the kernel client went away before its request was complete")
        data += more
    return json.loads(data), fds


def unshare_namespaces() -> None:
    """New user, mount, PID, network and IPC namespaces for this process (like ``unshare --user
    --mount --pid --net --ipc``); its next child is PID 1 of the new PID namespace, the only network
    there is a loopback of its own, and its System V objects go away with it."""
    check(libc.load().unshare(NAMESPACES), "unshare")


def map_ids(pid: int) -> None:
    """Map root of ``pid``'s new user namespace to this user, or to ``nobody`` when this user is root
    (the kernel then is no real root, and its process limit holds: the system exempts real root)."""
    uid, gid = (os.getuid(), os.getgid()) if os.getuid() != 0 else (NOBODY, NOBODY)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/{pid}/{name}", "w") as handle:
            handle.write(text)


def _read_request_files(request):
    """The spec and the connection file, read while this process is still the grader's user."""
    spec = json.loads(open(request["spec"]).read()) if request.get("spec") else {"sandbox": False}
    command = list(request["command"])
    connection = None
    if spec.get("sandbox", True) and "-f" in command[:-1]:   # carried into the private /tmp
        at = command.index("-f") + 1
        connection, command[at] = open(command[at], "rb").read(), "/tmp/kernel-connection.json"
    return spec, command, connection


def _supervise(connection):
    """Start the kernel of one request and stand between it and its client until either ends.

    Sandboxed, the kernel is the grandchild: the child enters the namespaces, this process (still
    in the grader's namespaces) maps its ids, and the child forks the kernel, PID 1 of the new PID
    namespace, then waits for it (like ``unshare --fork``)."""
    os.setsid()   # like a kernel nbgrader starts: out of reach of the grader's process group
    request, fds = _receive(connection)
    spec, command, connection_file = _read_request_files(request)
    sandboxed = spec.get("sandbox", True)
    alive_read, alive_write = os.pipe()
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:
        connection.close()
        for fd in (alive_write, ready_read):
            os.close(fd)
        if not sandboxed:
            _run_kernel(request, spec, command, connection_file, fds, alive_read)   # does not return
        _die_with_parent(alive_read)
        unshare_namespaces()
        _die_with_parent(alive_read)   # again, in case entering the user namespace cleared it
        os.write(ready_write, b"unshared\n")
        if not os.read(alive_read, 1):   # the ids are mapped, or the supervisor died (EOF)
            os._exit(1)
        inner_read, inner_write = os.pipe()
        kernel = os.fork()
        if kernel == 0:
            os.close(inner_write)
            _run_kernel(request, spec, command, connection_file, fds, inner_read)
        os.close(inner_read)
        os.write(ready_write, f"{kernel}\n".encode())
        os._exit(os.waitstatus_to_exitcode(os.waitpid(kernel, 0)[1]) % 256)
    for fd in (*fds, alive_read, ready_write):
        os.close(fd)
    kernel = child
    if sandboxed:
        replies = os.fdopen(ready_read)
        if replies.readline():
            map_ids(child)
            os.write(alive_write, b"m")
            kernel = int(replies.readline() or child)
    connection.sendall(json.dumps({"pid": kernel}).encode() + b"\n")
    child_exit = os.pidfd_open(child)
    buffered = b""
    while True:
        ready, _, _ = select.select([connection, child_exit], [], [])
        if child_exit in ready:
            _, status = os.waitpid(child, 0)
            code = os.waitstatus_to_exitcode(status)
            try:
                connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
            except OSError:
                pass
            return 0
        chunk = connection.recv(4096)
        if not chunk:   # the client is gone: so is its kernel
            for pid in {kernel, child}:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(child, 0)
            return 0
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            os.kill(kernel, int(line))


# ---------------------------------------------------------------- the kernel

def loopback_up() -> None:
    """Switch on the namespace's own loopback (``ip link set lo up``): 127.0.0.1 then answers
    inside the sandbox, and reaches nothing outside it."""
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        flags = struct.unpack("16sH", fcntl.ioctl(handle, siocgifflags, struct.pack("16sH", b"lo", 0)))[1]
        fcntl.ioctl(handle, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))


def new_session_keyring() -> None:
    """Leave the grader's session keyring for a new, empty one (``keyctl new_session``): the keys
    the grader's login holds are no longer the kernel's to read."""
    if libc.SYS_KEYCTL is None:
        raise OSError(f"no keyctl system call known for {os.uname().machine}")
    libc.load().syscall.restype = ctypes.c_long
    if libc.load().syscall(ctypes.c_long(libc.SYS_KEYCTL), ctypes.c_long(libc.KEYCTL_JOIN_SESSION_KEYRING), None) < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"keyctl(JOIN_SESSION_KEYRING): {os.strerror(error)}")


def switch_off_system_v_ipc() -> None:
    """Set the IPC namespace's limits so that no System V shared memory segment, message queue or
    semaphore set can be made (the namespace's root may, while it has its capabilities)."""
    for name, value in _IPC_LIMITS.items():
        with open(f"/proc/sys/kernel/{name}", "w") as handle:
            handle.write(value)


def drop_privileges() -> None:
    """What ``setpriv --no-new-privs --inh-caps=-all --bounding-set=-all`` and an exec did: no
    capability left, none to gain."""
    c = libc.load()
    check(c.prctl(libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    for capability in range(64):
        c.prctl(libc.PR_CAPBSET_DROP, capability, 0, 0, 0)   # fails past the last capability: fine
    c.prctl(libc.PR_CAP_AMBIENT, libc.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(libc.LINUX_CAPABILITY_VERSION_3, 0)   # this process
    nothing = (ctypes.c_uint32 * 6)()                # effective, permitted, inheritable: empty
    check(c.capset(header, nothing), "capset")


def _forget_the_zygote(environment, arguments, cwd):
    """Make the preloaded interpreter look like a fresh ``python -m ipykernel_launcher`` (Python's
    and NumPy's random generators reseed themselves in a forked child)."""
    import tempfile

    os.environ.clear()
    os.environ.update(environment)
    sys.argv = ["ipykernel_launcher", *arguments]
    sys.path[0] = cwd
    for name in [name for name in sys.modules if name == "grader" or name.startswith("grader.")]:
        del sys.modules[name]   # `import grader` now finds what the sandbox put there
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    tempfile.tempdir = None
    if "matplotlib" in sys.modules:   # as at import: MPLBACKEND, or the inline backend ipykernel sets
        backend = environment.get("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        sys.modules["matplotlib"].rcParams["backend"] = backend
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _limit_resources(limits, sandboxed):
    """No file larger than the disk limit (and 1 MiB); at most ``processes`` processes and threads
    (counted in the sandbox's user namespace; unsandboxed, among all of the user's, and not at all
    for root)."""
    import resource

    if limits.get("disk_bytes"):   # a little above: in the sandbox its tmpfs says "No space left" first
        largest = limits["disk_bytes"] + 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest, largest))
    processes = limits.get("processes")
    if processes and not sandboxed:
        processes += sum(1 for name in os.listdir("/proc") if name.isdigit())   # the user's others (roughly)
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def _run_kernel(request, spec, command, connection_file, fds, alive_read):
    """The kernel's process (PID 1 of the sandbox): build its view, limit it, drop privileges, then
    run ipykernel or ``exec`` the command."""
    code = 1
    try:
        _die_with_parent(alive_read)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        alive_read = os.dup2(alive_read, 3)
        os.closerange(4, 2**31 - 1)   # nothing of the zygote's, the supervisor's or the grader's
        os.chdir(request["cwd"])
        environment = dict(request["environment"])   # the kernel's variables only: the client filtered them
        sandboxed = spec.get("sandbox", True)
        new_session_keyring()
        if sandboxed:
            sandbox.mount_private_proc()
            loopback_up()
            sandbox.enter(spec)
            switch_off_system_v_ipc()   # as the namespace's root, which owns its limits
            _die_with_parent(alive_read)   # again: becoming the namespace's root cleared the parent-death signal
            if connection_file is not None:
                with open("/tmp/kernel-connection.json", "wb") as handle:
                    handle.write(connection_file)
        os.close(alive_read)
        _limit_resources(spec.get("limits", {}), sandboxed)
        if command[0] != "ipykernel":
            if sandboxed:
                drop_privileges()
            os.execvpe(command[0], command, environment)
        libc.load().prctl(libc.PR_SET_NAME, KERNEL_PROCESS_NAME, 0, 0, 0)
        _forget_the_zygote(environment, command[1:], os.getcwd())
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize()   # binds the kernel's sockets
        if sandboxed:
            sandbox.make_read_only(spec.get("read_only_after_start", []))   # e.g. the sockets' folder
            drop_privileges()
        app.start()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, int) and stop.code is not None:
            print(stop.code, file=sys.__stderr__)
    except BaseException:
        traceback.print_exc(file=sys.__stderr__)   # ipykernel may have replaced sys.stderr by then
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def start(folder: str, environment: Mapping[str, str],
          preload: Sequence[str] = PRELOAD) -> tuple[subprocess.Popen, str]:
    """Start a zygote with its socket in ``folder`` (the caller's private temporary folder, which
    the sandbox hides: a kernel that reached the socket could ask for an unsandboxed kernel).

    The zygote gets a kernel's environment (no credentials), with its home, matplotlib and
    temporary folders in ``folder``. Returns ``(process, socket path)``; the process dies with
    its parent.
    """
    path = os.path.join(os.path.abspath(folder), "k.sock")
    if len(path.encode()) > 100:
        raise RuntimeError(f"the kernel server's socket path is too long for Unix sockets: {path} (set TMPDIR)")
    home = os.path.join(folder, "home")
    os.makedirs(home, exist_ok=True)
    environment = {**sandbox.kernel_environment(environment), "HOME": home, "TMPDIR": folder,
                   "MPLCONFIGDIR": os.path.join(home, "matplotlib")}
    command = [*die_with_parent(), sys.executable, "-m", "grader.sandbox.zygote", path, ",".join(preload)]
    return subprocess.Popen(command, cwd=folder, env=environment, stdin=subprocess.DEVNULL), path


def main(argv: list[str] | None = None) -> None:
    """``python -m grader.sandbox.zygote SOCKET [MODULE,MODULE...]`` (default :data:`PRELOAD`)"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: python -m grader.sandbox.zygote SOCKET [MODULE,MODULE...]")
    serve(argv[0], preload=[name for name in argv[1].split(",") if name] if len(argv) > 1 else PRELOAD)


if __name__ == "__main__":
    main()
