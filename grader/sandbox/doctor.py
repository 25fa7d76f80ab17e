"""``python -m grader doctor``: can the kernel sandbox be built on this machine, and if not, why and what to do.

The probe runs the sandbox's own code (:mod:`grader.sandbox.zygote`, :mod:`grader.sandbox`), step by step,
in the order a kernel takes it, in a fresh ``python -m grader.sandbox.doctor --probe`` (the same
executable as the grader's zygote, so an AppArmor profile that attaches to it applies):

1. ``setpriv`` (util-linux): the kernelspec's parent-death signal (:func:`grader.sandbox.processes.die_with_parent`);
2. an unprivileged user namespace, alone, then with each namespace the zygote adds to it (mount,
   PID, network, IPC), each in a child of its own;
3. the zygote's own sequence (``zygote._supervise``): ``zygote.unshare_namespaces`` (all five at once), the
   ids mapped from outside (``zygote.map_ids``), then in the namespace's PID 1: a new session
   keyring, a private ``/proc``, the loopback up, a tmpfs, a bind mount, the whole view
   (``sandbox.enter`` on a small plan, checked: a hidden file is gone, a bound one is read-only),
   System V IPC off, all capabilities dropped;
4. a command run through a zygote and the kernelspec's command, as autograde runs a kernel.

A step that fails names its part and the error; :func:`diagnose` turns that into the remedy for
what it detects. :func:`grader.sandbox.available` (``--isolate auto|on``) uses the same probe.

Ubuntu 23.10 and later (24.04 LTS by default) restrict unprivileged user namespaces through
AppArmor: ``/proc/sys/kernel/apparmor_restrict_unprivileged_userns`` reads 1, a process without a
profile that grants ``userns`` may still create a user namespace but is moved into the
``unprivileged_userns`` profile, which denies every capability in it, so the mounts fail with
EPERM; the process's AppArmor label (``/proc/self/attr/apparmor/current``, or
``/proc/self/attr/current`` on older kernels) then names that profile. (Ubuntu: "Restricted
unprivileged user namespaces are coming to Ubuntu 23.10",
https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces; the spec,
https://discourse.ubuntu.com/t/spec-unprivileged-user-namespace-restrictions-via-apparmor-in-ubuntu-23-10/37626;
AppArmor's wiki, https://gitlab.com/apparmor/apparmor/-/wikis/unprivileged_userns_restriction, and its
``profiles/apparmor.d/unprivileged_userns``.) The remedy the project ships is
``examples/apparmor/course-grader``: a profile that grants ``userns`` to this course's Python.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.errors import DONE, INCOMPLETE
from grader.sandbox import libc, zygote
from grader.sandbox import namespaces as sandbox
from grader.sandbox.namespaces import REPO_ROOT, error_text, failed_step, run_probe  # run_probe: see available()

PROFILE_TEMPLATE = REPO_ROOT / "examples" / "apparmor" / "course-grader"
PROFILE_NAME = "course-grader"
PYTHON_VARIABLE_LINE = "@{course_python} = "   # the template's line that names the executable
CONTAINER_SECTION = 'README, "Grading in a container"'
APPARMOR_SYSCTL = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
LABEL_FILES = ("/proc/self/attr/apparmor/current", "/proc/self/attr/current")
SYSCTLS = {"kernel.apparmor_restrict_unprivileged_userns": APPARMOR_SYSCTL,
           "kernel.unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
           "user.max_user_namespaces": "/proc/sys/user/max_user_namespaces"}
STEP_SECONDS = 20


# ---------------------------------------------------------------- the probe (python -m grader.sandbox.doctor --probe)

def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip().rstrip("\x00")
    except OSError:
        return None


def apparmor_label() -> str | None:
    """This process's AppArmor label, or None without AppArmor (the files say EINVAL then)."""
    for path in LABEL_FILES:
        label = _read(path)
        if label:
            return label
    return None


def _in_child(action, timeout=STEP_SECONDS):
    """Run ``action()`` in a forked child (namespaces cannot be left again); ``(ok, detail)``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            detail = action() or ""
            message = {"ok": True, "detail": str(detail)}
        except BaseException as error:   # noqa: BLE001 - the probe reports, never raises
            message = {"ok": False, "detail": error_text(error)}
        os.write(write_end, json.dumps(message).encode())
        os._exit(0)
    os.close(write_end)
    data = _read_all(read_end, timeout)
    _reap(pid)
    if not data:
        return False, "the probe's child ended without a word"
    message = json.loads(data)
    return message["ok"], message["detail"]


def _read_all(fd, timeout):
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _reap(pid):
    for _ in range(100):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def _namespace_steps():
    """The user namespace alone, then with each namespace the zygote adds to it."""
    def unshare(flags, what):
        def action():
            libc.check(libc.load().unshare(flags), f"unshare({what})")
        return action

    steps = [("user namespace", *_in_child(unshare(libc.CLONE_NEWUSER, "CLONE_NEWUSER")))]
    if not steps[0][1]:
        return steps
    for part, flag, name in (("mount namespace", libc.CLONE_NEWNS, "CLONE_NEWNS"),
                             ("PID namespace", libc.CLONE_NEWPID, "CLONE_NEWPID"),
                             ("network namespace", libc.CLONE_NEWNET, "CLONE_NEWNET"),
                             ("IPC namespace", libc.CLONE_NEWIPC, "CLONE_NEWIPC")):
        steps.append((part, *_in_child(unshare(libc.CLONE_NEWUSER | flag, f"CLONE_NEWUSER|{name}"))))
    return steps


def _plan(folder):
    """A small sandbox plan (the shape of :func:`grader.pipeline.isolation.prepare_kernel`'s) in ``folder``."""
    folder = Path(folder)
    for name in ("hidden", "public", "work/kernel"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for path in (folder, *folder.rglob("*")):   # the kernel may run as nobody (see grader.sandbox.zygote)
        path.chmod(0o755)
    (folder / "hidden" / "secret.txt").write_text("hidden")
    (folder / "public" / "data.txt").write_text("bound")
    return {"hide": [str(folder / "hidden"), str(folder / "work"), str(Path.home())],
            "hide_writable": ["/tmp", "/dev/shm"],
            "cover": [],
            "bind": [[sys.base_prefix, sys.base_prefix, False], [sys.prefix, sys.prefix, False],
                     [str(folder / "public"), str(folder / "public"), False]],
            "cwd_under": str(folder / "work" / "kernel"),
            "limits": {"disk_bytes": 16 * 2**20, "files": 1000, "processes": 64}}


def _kernel_steps(spec, report):
    """In the namespace's PID 1 (the kernel's place): what ``zygote._run_kernel`` does, a step at a time."""
    folder = Path(spec["cwd_under"]).parent.parent

    def tmpfs():
        target = folder / "hidden"
        libc.mount("tmpfs", str(target), "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=1m")
        if (target / "secret.txt").exists():
            raise RuntimeError("the file under the tmpfs is still there")

    def bind():
        source, target = folder / "public", folder / "hidden"
        libc.mount(str(source), str(target), None, libc.MS_BIND)
        if not (target / "data.txt").is_file():
            raise RuntimeError("the bound folder's file is missing")

    def view():
        os.chdir(spec["cwd_under"])
        sandbox.enter(spec)
        if os.path.exists(folder / "hidden" / "secret.txt"):
            raise RuntimeError("a hidden file is still readable")
        if (folder / "public" / "data.txt").read_text() != "bound":
            raise RuntimeError("a bound file cannot be read")
        try:
            open(folder / "public" / "data.txt", "w").close()
        except OSError as error:
            if error.errno != errno.EROFS:
                raise
        else:
            raise RuntimeError("a bound folder is writable")

    steps = [("session keyring", zygote.new_session_keyring),
             ("mount: a private /proc", sandbox.mount_private_proc),
             ("network: the namespace's loopback", zygote.loopback_up),
             ("mount: tmpfs", tmpfs),
             ("mount: bind", bind),
             ("mount: the kernel's view (sandbox.enter)", view),
             ("IPC: System V switched off", zygote.switch_off_system_v_ipc),
             ("dropping every capability", zygote.drop_privileges)]
    for part, action in steps:
        try:
            action()
            report(part, True, "")
        except BaseException as error:   # noqa: BLE001
            report(part, False, error_text(error))
            return


def _zygote_steps(folder):
    """``zygote._supervise``'s path: unshare all at once, map the ids from outside, then the kernel's steps."""
    spec = _plan(folder)
    results = []
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    out_read, out_write = os.pipe()
    child = os.fork()
    if child == 0:
        for fd in (ready_read, go_write, out_read):
            os.close(fd)

        def report(part, ok, detail, **more):
            os.write(out_write, (json.dumps({"part": part, "ok": ok, "detail": detail, **more}) + "\n").encode())

        try:
            zygote.unshare_namespaces()
        except BaseException as error:   # noqa: BLE001
            report("unshare: user, mount, PID, network and IPC namespaces at once", False, error_text(error))
            os._exit(0)
        os.write(ready_write, b"u")
        if not os.read(go_read, 1):
            os._exit(0)
        status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
        report("unshare: user, mount, PID, network and IPC namespaces at once", True, "",
               label=apparmor_label(), capabilities=status.get("CapEff", "").strip())
        kernel = os.fork()
        if kernel == 0:
            try:
                _kernel_steps(spec, report)
            finally:
                os._exit(0)
        os.waitpid(kernel, 0)
        os._exit(0)
    for fd in (ready_write, go_read, out_write):
        os.close(fd)
    mapped = None
    if _read_some(ready_read):
        try:
            zygote.map_ids(child)
            mapped = (True, "")
        except OSError as error:
            mapped = (False, error_text(error))
        if mapped[0]:
            os.write(go_write, b"g")
    os.close(go_write)
    os.close(ready_read)
    lines = _read_all(out_read, STEP_SECONDS * 3).decode().splitlines()
    _reap(child)
    entries = [json.loads(line) for line in lines if line.strip()]
    unshared = [e for e in entries if e["part"].startswith("unshare")]
    if not unshared and mapped is not None and not mapped[0]:
        unshared = [{"part": "unshare: user, mount, PID, network and IPC namespaces at once", "ok": True,
                     "detail": ""}]
    results += unshared
    if mapped is not None:
        results.append({"part": "id mapping", "ok": mapped[0], "detail": mapped[1],
                        "uid": os.getuid(), "mapped_to": zygote.NOBODY if os.getuid() == 0 else os.getuid()})
    results += [e for e in entries if not e["part"].startswith("unshare")]
    return results


def _read_some(fd):
    ready, _, _ = select.select([fd], [], [], STEP_SECONDS)
    return os.read(fd, 1) if ready else b""


def _end_to_end(folder):
    """A command through a zygote and the kernelspec's command, in the sandbox (as autograde's kernels)."""
    folder = Path(folder)
    spec = _plan(folder / "plan")
    environment = sandbox.write_kernelspec(folder, spec)
    argv = json.loads((folder / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())["argv"]
    code = ("import os; print('pid', os.getpid(), 'hidden', os.path.exists(%r))"
            % str(folder / "plan" / "hidden" / "secret.txt"))
    command = argv[:argv.index("--") + 1] + [sys.executable, "-I", "-S", "-c", code]
    process, socket_path = zygote.start(str(folder / "z"), os.environ, preload=())
    try:
        result = subprocess.run(command, cwd=spec["cwd_under"], capture_output=True, text=True, timeout=STEP_SECONDS,
                                env={**os.environ, **environment, zygote.VARIABLE: socket_path})
    except subprocess.TimeoutExpired:
        return False, f"no answer in {STEP_SECONDS} s"
    finally:
        process.kill()
        process.wait()
    if result.returncode != 0 or result.stdout.split() != ["pid", "1", "hidden", "False"]:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        return False, f"exit {result.returncode}: {said[-1][:300] if said else 'no output'}"
    return True, ""


def probe() -> dict:
    """``{"steps": [{"part", "ok", "detail", ...}], "facts": {...}}``: every step until the first
    that fails (see the module's docstring), and what the diagnosis needs to know of the machine."""
    facts = {"platform": sys.platform, "python": sys.executable, "python_resolved": os.path.realpath(sys.executable),
             "uid": os.getuid() if hasattr(os, "getuid") else None,
             "sysctls": {name: _read(path) for name, path in SYSCTLS.items()},
             "apparmor_label": apparmor_label(), "container": container_hint()}
    steps = []
    if not sys.platform.startswith("linux"):
        steps.append({"part": "Linux", "ok": False, "detail": f"this is {sys.platform}: no Linux namespaces"})
        return {"steps": steps, "facts": facts}
    setpriv = shutil.which("setpriv")
    steps.append({"part": "setpriv", "ok": setpriv is not None,
                  "detail": "" if setpriv else "setpriv (util-linux) is not on PATH"})
    for part, ok, detail in _namespace_steps():
        steps.append({"part": part, "ok": ok, "detail": detail})
    if all(step["ok"] for step in steps[1:]):
        with tempfile.TemporaryDirectory(prefix="grader-doctor-") as folder:
            steps += _zygote_steps(folder)
            if all(step["ok"] for step in steps):
                ok, detail = _end_to_end(folder)
                steps.append({"part": "a command in the sandbox through the zygote (as autograde's kernels)",
                              "ok": ok, "detail": detail})
    return {"steps": steps, "facts": facts}


def container_hint() -> str | None:
    """What says this process runs in a container (Docker, Podman, Kubernetes), or None."""
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    cgroup = _read("/proc/1/cgroup") or ""
    for name in ("kubepods", "docker", "libpod", "containerd"):
        if name in cgroup:
            return name
    return None


# ---------------------------------------------------------------- the diagnosis

def profile_text(python: str | None = None, template: str | Path = PROFILE_TEMPLATE) -> str:
    """The shipped AppArmor profile with ``@{course_python}`` set to ``python`` (default: this
    interpreter, resolved: AppArmor attaches a profile to the file that is executed, not to a symlink)."""
    python = python or os.path.realpath(sys.executable)
    lines = []
    for line in Path(template).read_text().splitlines():
        lines.append(f"{PYTHON_VARIABLE_LINE}{python}" if line.startswith(PYTHON_VARIABLE_LINE) else line)
    return "\n".join(lines) + "\n"


def _apparmor_remedy(facts):
    python = facts.get("python_resolved") or os.path.realpath(sys.executable)
    shared = not python.startswith(str(REPO_ROOT))
    lines = [
        "Ubuntu 23.10+ (24.04 LTS included) restricts unprivileged user namespaces through AppArmor: this "
        "process was moved into the 'unprivileged_userns' profile, which denies every capability inside the namespace.",
        f"Remedy: the AppArmor profile the project ships, {PROFILE_TEMPLATE.relative_to(REPO_ROOT)}, which grants "
        f"'userns' (user namespaces with their capabilities) to one executable and confines nothing else "
        "(flags=(unconfined)). A profile attaches to the executable's real path; here the grader's Python is "
        f"{python}.",
        f"  python -m grader doctor --write-apparmor-profile {PROFILE_NAME}",
        f"  sudo install -m 644 {PROFILE_NAME} /etc/apparmor.d/{PROFILE_NAME} && "
        f"sudo apparmor_parser -r /etc/apparmor.d/{PROFILE_NAME}",
        "  python -m grader doctor    # again: it should say the sandbox works",
    ]
    if shared:
        lines.append(f"  Note: {python} lies outside the course folder (the venv's python is a link to it), so the "
                     "profile grants 'userns' to every program run with that interpreter. To grant it to the course "
                     "only, make the venv with copies (`python3 -m venv --copies .venv`, then reinstall) and write the "
                     "profile again.")
    lines.append("Or, machine-wide (every program, weaker): "
                 "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
                 "(lost at reboot unless written to /etc/sysctl.d/). Or grade in the container "
                 f"({CONTAINER_SECTION}).")
    return lines


def _container_remedy(facts):
    """``[cause, remedy]`` for a step a container's runtime or a security module refuses."""
    if facts.get("container"):
        cause = (f"Cause: this process runs in a container ({facts['container']}) whose seccomp profile or security "
                 "options refuse it; the nested sandbox needs unshare, mount and keyctl in a user namespace.")
    else:
        cause = "Cause: a security module (AppArmor, SELinux) or a seccomp profile refuses it."
    return [cause, f"Remedy: run the container with the security options {CONTAINER_SECTION} names, or grade outside "
                   "it; `python -m grader doctor` run inside the container says whether they suffice."]


def diagnose(result: dict) -> tuple[bool, list[str]]:
    """``(works, lines)``: whether the sandbox can be built here and, when not, which part fails
    and the remedy for what the probe detected."""
    step, facts = failed_step(result), result.get("facts", {})
    if step is None:
        return True, ["The kernel sandbox works here: `python -m grader autograde` (--isolate auto or on) "
                      "runs each kernel in it."]
    sysctls = facts.get("sysctls") or {}
    part, detail = step["part"], step.get("detail", "")
    lines = [f"The kernel sandbox cannot be built here: {part} fails ({detail})."]
    apparmor = sysctls.get("kernel.apparmor_restrict_unprivileged_userns") == "1"
    label = next((s.get("label") for s in result["steps"] if s.get("label")), None) or ""
    denied = "EPERM" in detail or "EACCES" in detail
    if part == "Linux":
        lines.append(f"Remedy: grade in the container, with Docker or Podman ({CONTAINER_SECTION}): the sandbox runs "
                     "inside its Linux.")
    elif part == "setpriv":
        lines.append("Remedy: install util-linux (Debian, Ubuntu: sudo apt-get install util-linux; Fedora: sudo dnf "
                     "install util-linux), or grade in the container.")
    elif part == "user namespace":
        if sysctls.get("kernel.unprivileged_userns_clone") == "0":
            lines.append("Cause: kernel.unprivileged_userns_clone is 0 (Debian's switch for unprivileged user "
                         "namespaces).")
            lines.append("Remedy: sudo sysctl -w kernel.unprivileged_userns_clone=1 (and the same line in "
                         "/etc/sysctl.d/90-userns.conf to keep it), or grade in the container.")
        elif sysctls.get("user.max_user_namespaces") == "0" or "ENOSPC" in detail:
            lines.append(f"Cause: no user namespace may be made here (user.max_user_namespaces is "
                         f"{sysctls.get('user.max_user_namespaces')}, or a namespace this one is nested in allows "
                         "none).")
            lines.append("Remedy: sudo sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/ to keep it), "
                         "on the machine whose limit is 0; or grade in the container.")
        elif apparmor:
            lines.append("Cause: AppArmor's restriction (kernel.apparmor_restrict_unprivileged_userns = 1) refuses a "
                         "user namespace to programs without a profile that grants 'userns'.")
            lines += _apparmor_remedy(facts)[1:]
        else:
            lines += _container_remedy(facts)
    elif part == "id mapping":
        lines.append(f"Cause: the grader runs as uid {step.get('uid')} and maps the kernel's root to uid "
                     f"{step.get('mapped_to')} (nobody, when the grader is root), which this user namespace cannot "
                     "map: the grader runs as root inside a user namespace (a rootless container) without that id.")
        lines.append("Remedy: run the grader as an ordinary user (in the container too), or give the container a "
                     f"range of ids that holds 65534 (Podman's default does; {CONTAINER_SECTION}).")
    elif apparmor and "unprivileged_userns" in label and denied:
        lines.append(f"The process's AppArmor label inside the namespace is {label!r} (capabilities: "
                     f"{next((s.get('capabilities') for s in result['steps'] if s.get('capabilities')), '?')}).")
        lines += _apparmor_remedy(facts)
    elif part in ("mount namespace", "PID namespace", "network namespace", "IPC namespace"):
        lines.append(f"Cause: an unprivileged {part} cannot be made in a user namespace here "
                     "(a seccomp profile, a security module or a kernel built without it).")
        lines += _container_remedy(facts)[1:]
    elif part == "session keyring":
        lines.append("Cause: keyctl is refused (Docker's default seccomp profile refuses it); every kernel, "
                     "sandboxed or not, joins a new session keyring.")
        lines += _container_remedy(facts)[1:]
    elif denied:
        if apparmor:
            lines += _apparmor_remedy(facts)
        else:
            lines += _container_remedy(facts)
    else:
        lines.append(f"Remedy: grade in the container ({CONTAINER_SECTION}); report this output if it fails there too.")
    lines.append("Until then `--isolate auto` grades without the sandbox (grades.csv's `sandboxed` column says `no`), "
                 "and `--isolate on` refuses to grade.")
    return False, lines


def report_lines(result: dict) -> tuple[bool, list[str]]:
    """What ``python -m grader doctor`` prints: each step, then the diagnosis."""
    facts = result.get("facts", {})
    lines = [f"python: {facts.get('python')} (runs as {facts.get('python_resolved')})"]
    sysctls = {name: value for name, value in (facts.get("sysctls") or {}).items() if value is not None}
    if sysctls:
        lines.append("sysctls: " + ", ".join(f"{name} = {value}" for name, value in sysctls.items()))
    if facts.get("container"):
        lines.append(f"container: {facts['container']}")
    for step in result["steps"]:
        extra = f" (AppArmor label inside: {step['label']})" if step.get("label") else ""
        lines.append(f"  {'ok  ' if step['ok'] else 'FAIL'} {step['part']}{extra}"
                     + (f": {step['detail']}" if step.get("detail") else ""))
    works, diagnosis = diagnose(result)
    return works, lines + [""] + diagnosis


def doctor(write_profile: str | Path | None = None, as_json: bool = False) -> int:
    """``python -m grader doctor``: print the probe and the diagnosis; :data:`~grader.errors.DONE` (0) when
    the sandbox works, else :data:`~grader.errors.INCOMPLETE` (1)."""
    if write_profile is not None:
        Path(write_profile).write_text(profile_text())
        print(f"{write_profile}: the AppArmor profile {PROFILE_NAME}, granting 'userns' to "
              f"{os.path.realpath(sys.executable)}")
        print(f"install it: sudo install -m 644 {write_profile} /etc/apparmor.d/{PROFILE_NAME} && "
              f"sudo apparmor_parser -r /etc/apparmor.d/{PROFILE_NAME}")
        return DONE
    result = run_probe()
    if as_json:
        works, diagnosis = diagnose(result)
        print(json.dumps({**result, "works": works, "diagnosis": diagnosis}))
    else:
        works, lines = report_lines(result)
        print("\n".join(lines))
    return DONE if works else INCOMPLETE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox.doctor")
    parser.add_argument("--probe", action="store_true", help="run the probe here and print it as JSON")
    arguments = parser.parse_args(argv)
    if arguments.probe:
        print(json.dumps(probe()))
        return 0
    return doctor()


if __name__ == "__main__":
    sys.exit(main())
