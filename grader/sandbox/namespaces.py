"""A sandbox for the students' kernels: they see the course, not the grader.

A submitted notebook runs as the grader's own user, so without this it could read
``grader/reference.py``, ``solutions/`` or the git history, and write to the gradebook,
other students' folders or the Python environment. The grader therefore starts each
kernel through a Jupyter kernelspec (``course-sandbox``) whose command asks the job's zygote
(:mod:`grader.sandbox.zygote`) for a kernel in new user, mount, PID and network namespaces (the only
network it has is a loopback of its own; nbgrader talks to it over Unix sockets), where
:func:`enter` then

1. covers folders with empty tmpfs mounts (``hide``): the repository, the home folder,
   the course and submission folders, and ``/tmp`` (with the other students' working copies
   and the zygote's socket);
2. bind-mounts back what the kernel needs (``bind``): Python, the venv, ``helpers/``,
   ``data/`` (when the course has one), the model cache, and in place of ``grader/`` a stub package whose
   ``reference`` module only replays recorded answers (:mod:`grader.sandbox.replay`);
3. binds ``/dev/null`` over the Unix sockets that lie in system folders (``cover``; the folders
   of the others, and ``/run``, are hidden);
4. makes every mount read-only except the kernel's working folder, the capture folder
   and its private ``/tmp``.

The kernel then gives up all capabilities (it cannot undo the mounts), sees only its own
processes, and runs with an environment cut down to the course's and the libraries'
variables (:func:`kernel_environment`: no credentials from the grader's shell).

Where the sandbox cannot be built (not Linux, user namespaces switched off or restricted, a
container that refuses them), :func:`available` says which part fails (``python -m grader doctor``
says why and what to do) and ``--isolate auto`` runs kernels unsandboxed with a warning; every
result records whether its kernel was sandboxed (``grades.csv``'s ``sandboxed`` column).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from grader.sandbox import libc
from grader.sandbox.kernel_client import kernel_environment  # noqa: F401  (what a kernel keeps of the environment)
from grader.sandbox.libc import (
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    mount,
)
from grader.sandbox.processes import die_with_parent

KERNEL_NAME = "course-sandbox"
REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT = 60


@lru_cache(maxsize=1)
def available() -> tuple[bool, str]:
    """``(True, "")`` when kernels can be sandboxed here, else ``(False, reason)``.

    Asks :mod:`grader.sandbox.doctor`'s probe (:func:`run_probe`), which takes the zygote's own steps
    in a fresh process of this interpreter (the one an AppArmor profile must name: see ``python -m
    grader doctor``): the user namespace and each namespace added to it, the ids mapped, the keyring,
    the mounts, the loopback, System V IPC off, the capabilities dropped, then a command through a zygote."""
    if not sys.platform.startswith("linux"):
        return False, f"kernels are sandboxed on Linux only (this is {sys.platform})"
    step = failed_step(run_probe())
    if step is None:
        return True, ""
    return False, f"{step['part']} fails ({step['detail'][:200]}); `python -m grader doctor` says why and what to do"


def run_probe(timeout: float = PROBE_TIMEOUT) -> dict:
    """The doctor's probe (:func:`grader.sandbox.doctor.probe`) in a fresh ``python -m
    grader.sandbox.doctor --probe`` of this interpreter, as a dict (a failed step "the probe" when it
    cannot run). It runs in a process of its own because it forks and enters namespaces; here it is
    run by name, so this module does not import the doctor (which imports this module)."""
    try:
        result = subprocess.run([sys.executable, "-m", "grader.sandbox.doctor", "--probe"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"steps": [{"part": "the probe", "ok": False, "detail": error_text(error)}], "facts": {}}
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        return {"steps": [{"part": "the probe", "ok": False,
                           "detail": f"exit {result.returncode}: {said[-1][:300] if said else 'no output'}"}],
                "facts": {}}


def failed_step(result: dict) -> dict | None:
    """The first step of a probe's ``result`` that failed, or None when the sandbox can be built."""
    return next((step for step in result["steps"] if not step["ok"]), None)


def error_text(error: BaseException) -> str:
    """An error as the probe reports it: ``EPERM: <text>`` for an OSError, else ``<class>: <text>``."""
    if isinstance(error, OSError) and error.errno:
        return f"{errno.errorcode.get(error.errno, error.errno)}: {error.strerror or os.strerror(error.errno)}"
    return f"{error.__class__.__name__}: {error}"


def write_kernelspec(folder: str | Path, spec: dict, kernel_env: dict[str, str] | None = None) -> dict[str, str]:
    """Write ``spec`` and the ``course-sandbox`` kernelspec under ``folder``.

    ``spec`` is a dict: ``hide`` (folders covered by a read-only tmpfs), ``hide_writable``
    (covered by the kernel's private tmpfs), ``cover`` (socket files covered by ``/dev/null``),
    ``bind`` (``[source, target, writable]``),
    ``cwd_under`` (the kernel's working folder must lie there; the kernel works in a copy of it),
    ``limits`` (``disk_bytes``, ``files``, ``processes``) and ``read_only_after_start`` (bound
    folders the kernel may write only while it starts: its sockets' folder).
    Returns the environment variables nbgrader needs to find the kernelspec.
    """
    folder = Path(folder)
    spec_path = folder / "sandbox.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    kernel_dir = folder / "jupyter" / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    argv = kernel_command(spec_path)
    kernel = {"argv": argv, "display_name": "Python 3 (course sandbox)", "language": "python",
              "env": dict(kernel_env or {})}
    (kernel_dir / "kernel.json").write_text(json.dumps(kernel, indent=1))
    return {"JUPYTER_PATH": str(folder / "jupyter")}


def kernel_command(spec_path: str | Path | None = None) -> list[str]:
    """A kernelspec's ``argv``: ask the job's zygote (:mod:`grader.sandbox.zygote`) for a kernel, sandboxed
    by the plan in ``spec_path`` (None: unsandboxed). The client dies with nbgrader, and the kernel
    with the client."""
    return [*die_with_parent(), sys.executable, "-I", "-S", str(Path(__file__).with_name("kernel_client.py")),
            str(spec_path) if spec_path else "-", "--", "ipykernel", "-f", "{connection_file}",
            # C-level output (TensorFlow's log lines) goes to the grader's log, not into a
            # test cell, where nbgrader would count it as a failure.
            "--IPKernelApp.capture_fd_output=False"]


# ---------------------------------------------------------------- inside the namespaces

def _locked_flags(path):
    """The mount flags a remount must keep (a user namespace may not clear them)."""
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
             (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in pairs if flags & st)


def _mount_points():
    points = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4]
            points.append(point.encode().decode("unicode_escape"))
    return points


def _outermost(paths):
    """``paths`` without those inside another one of them."""
    kept = []
    for path in sorted({os.path.realpath(p) for p in paths}, key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def enter(spec: dict) -> None:
    """Build the kernel's view of the file system from ``spec`` (see :func:`write_kernelspec`).

    Everything the kernel may write lies in one private tmpfs of ``limits.disk_bytes`` bytes and
    ``limits.files`` files, mounted on the first ``hide_writable`` folder: the other ones and a copy
    of the kernel's working folder are folders in it (files the kernel leaves there are not copied
    back). Besides, only the ``bind`` entries marked writable can be written (a single file each,
    bounded by the file size limit, or a folder made read-only once the kernel has started). The
    process ends as the namespace's root: the grader's user, or nobody when the grader is root.
    """
    libc.load()  # find the C library while /tmp and the tools it may need are still there
    cwd = os.path.realpath(os.getcwd())
    root = os.path.realpath(spec["cwd_under"])
    if cwd != root and not cwd.startswith(root.rstrip("/") + "/"):
        raise SystemExit(f"sandbox: the kernel's folder {cwd} is not inside {root}")
    limits = spec.get("limits", {})
    binds = [(os.path.realpath(s), os.path.realpath(t), bool(w)) for s, t, w in spec["bind"] if os.path.exists(s)]
    handles = {source: os.open(source, os.O_PATH) for source, _, _ in binds}
    is_folder = {source: os.path.isdir(source) for source, _, _ in binds}   # decided before anything is hidden
    working_files = _snapshot(cwd)
    # The namespace's root from here on: the grader's user, or nobody when the grader is root (what
    # the real root reads has been opened above); the mounts need only the namespace's capabilities.
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    writable_hidden = _outermost(spec.get("hide_writable", []))
    for folder in _outermost(writable_hidden + spec["hide"]):
        if os.path.isdir(folder) and folder not in writable_hidden:
            mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,uid=0,gid=0,size=1m")
    private = writable_hidden[0]
    mount("tmpfs", private, "tmpfs", MS_NOSUID | MS_NODEV,
          f"mode=1777,uid=0,gid=0,size={limits.get('disk_bytes', 2**31)},nr_inodes={limits.get('files', 10**6)}")
    for source, target, _ in binds + [(cwd, cwd, True)]:
        os.makedirs(target if is_folder.get(source, True) else os.path.dirname(target), exist_ok=True)
        if not is_folder.get(source, True):
            open(target, "a").close()
        if source in handles:
            mount(f"/proc/self/fd/{handles[source]}", target, None, MS_BIND | MS_REC)
            os.close(handles.pop(source))
    inside = os.path.join(private, ".sandbox")
    _restore(working_files, os.path.join(inside, "work"))
    private_binds = [(os.path.join(inside, "work"), cwd)]
    private_binds += [(os.path.join(inside, str(n)), folder) for n, folder in enumerate(writable_hidden[1:])
                      if os.path.isdir(folder)]
    for source, target in private_binds:
        os.makedirs(source, mode=0o1777, exist_ok=True)
        mount(source, target, None, MS_BIND)
    _cover_sockets(spec.get("cover", []))
    writable = {target for _, target, w in binds if w} | {target for _, target in private_binds} | {private}
    for point in _mount_points():
        if point in writable or point == "/proc" or point.startswith("/proc/"):
            continue
        try:
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(point))
        except OSError:
            pass  # a mount point hidden under a tmpfs: its replacement is remounted instead
    _refuse_writable_mounts(writable, {private}, {target for _, target, _ in binds})
    os.chdir(cwd)  # re-resolve the working folder through the new mounts
    os.makedirs(os.environ.get("HOME", "/tmp/home"), exist_ok=True)


def _cover_sockets(paths):
    """Bind ``/dev/null`` over each Unix socket file in ``paths`` that is still reachable (one in a
    system folder the kernel needs, such as ``/dev/log``): connecting to it is then refused."""
    for path in paths:
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                mount("/dev/null", path, None, MS_BIND)
        except FileNotFoundError:
            pass   # hidden by a folder above it, or gone


def _snapshot(folder):
    """``[(relative path, bytes or None for a folder)]`` of everything under ``folder``."""
    entries = []
    for parent, folders, files in os.walk(folder):
        relative = os.path.relpath(parent, folder)
        entries += [(os.path.join(relative, name), None) for name in folders]
        for name in files:
            with open(os.path.join(parent, name), "rb") as handle:
                entries.append((os.path.join(relative, name), handle.read()))
    return entries


def _restore(entries, folder):
    """Write a :func:`_snapshot` into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for relative, data in entries:
        path = os.path.join(folder, relative)
        if data is None:
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as handle:
                handle.write(data)


def mount_private_proc() -> None:
    """Make every mount private to this mount namespace and mount a /proc of this PID namespace
    (what ``unshare --mount-proc`` does)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def make_read_only(folders: list[str]) -> None:
    """Remount ``folders`` (bind mounts made by :func:`enter`) read-only."""
    for folder in folders:
        mount(None, folder, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _locked_flags(folder))


def _refuse_writable_mounts(writable, private, targets):
    """Stop (the kernel then fails to start, and the notebook scores 0 with a reason) if any mount
    the kernel can reach is still writable without being meant to be. Old mount points inside a
    private tmpfs (``private``) are hidden by it; the folders bound there (``targets``) are checked."""
    for point in _mount_points():
        if point in writable or point == "/proc" or point.startswith("/proc/"):
            continue
        if point not in targets and any(point.startswith(folder.rstrip("/") + "/") for folder in private):
            continue
        try:
            read_only = os.statvfs(point).f_flag & os.ST_RDONLY
        except OSError:
            continue  # hidden: no longer reachable
        if not read_only:
            raise SystemExit(f"sandbox: {point} could not be made read-only; refusing to run the kernel")

