"""The kernel sandbox (grader/sandbox/namespaces.py) and the recorded reference answers (grader/sandbox/replay.py)."""

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from submissions.listeners import unix_listener

from grader.sandbox import namespaces as sandbox
from grader.sandbox import replay, zygote

PROBE = r'''
import json, os, subprocess, sys
report = {}
def attempt(name, action):
    try:
        action()
        report[name] = "allowed"
    except Exception as error:
        report[name] = type(error).__name__
attempt("read_secret", lambda: open(sys.argv[1]).read())
attempt("read_public", lambda: open(sys.argv[2]).read())
attempt("write_readonly", lambda: open(sys.argv[2], "w").write("x"))
attempt("write_own_folder", lambda: open("own.txt", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/scratch.txt", "w").write("x"))
report["tmp"] = sorted(os.listdir("/tmp"))
report["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
report["umount"] = subprocess.run(["umount", sys.argv[3]], capture_output=True).returncode
import socket
def loopback():
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname(), timeout=5).close()
attempt("own_loopback", loopback)
attempt("host_listener", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[4])), timeout=5))
attempt("outside", lambda: socket.create_connection(("192.0.2.1", 80), timeout=5))
report["environment"] = sorted(os.environ)
import ctypes
signal_number = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(signal_number), 0, 0, 0)   # PR_GET_PDEATHSIG
report["parent_death_signal"] = signal_number.value
print(json.dumps(report))
'''


@pytest.fixture
def layout(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "answer.txt").write_text("42")
    public = tmp_path / "public"
    public.mkdir()
    (public / "data.txt").write_text("data")
    work = tmp_path / "work" / "kernel"
    work.mkdir(parents=True)
    spec = {"hide": [str(tmp_path), os.path.expanduser("~")], "hide_writable": ["/tmp", "/dev/shm"],
            "bind": [[sys.base_prefix, sys.base_prefix, False], [sys.prefix, sys.prefix, False],
                     [str(public), str(public), False]],
            "cwd_under": str(work)}
    return tmp_path, secret / "answer.txt", public / "data.txt", work, spec


@pytest.fixture(scope="module")
def kernel_server(tmp_path_factory):
    """A zygote (grader/sandbox/zygote.py) without the TensorFlow preload: the probes are plain Python."""
    folder = tmp_path_factory.mktemp("zygote")
    process, socket_path = zygote.start(str(folder), os.environ, preload=())
    yield socket_path
    process.kill()
    process.wait()


def run_probe(layout, kernel_server, probe=PROBE):
    """Run ``probe`` the way nbgrader runs a sandboxed kernel: the kernelspec's command, with the
    probe in place of ipykernel."""
    tmp_path, secret, public, work, spec = layout
    kernelspec_env = sandbox.write_kernelspec(tmp_path, spec)
    argv = json.loads((tmp_path / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())["argv"]
    listener = socket.create_server(("127.0.0.1", 0))   # on the host: the probe must not reach it
    command = argv[:argv.index("--") + 1] + [sys.executable, "-c", probe, str(secret), str(public), str(tmp_path),
                                             str(listener.getsockname()[1])]
    with listener:
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=60,
                                env={**os.environ, **kernelspec_env, zygote.VARIABLE: kernel_server,
                                     "AWS_SECRET_ACCESS_KEY": "instructor-secret", "COURSE_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sandbox.available()[0], reason="no user namespaces (see test_autograde's availability test)")
def test_the_sandbox_hides_protects_and_isolates(layout, kernel_server):
    report = run_probe(layout, kernel_server)
    assert report["read_secret"] == "FileNotFoundError"       # hidden under an empty mount
    assert report["read_public"] == "allowed"                  # bound back, read-only
    assert report["write_readonly"] == "OSError"               # EROFS
    assert report["write_own_folder"] == "allowed"
    assert report["write_tmp"] == "allowed"                    # a private /tmp ...
    assert "scratch.txt" not in os.listdir("/tmp")             # ... that is not the real one
    assert max(report["processes"]) < 10                        # its own PID namespace (the probe is 1)
    assert report["umount"] != 0                                # no capabilities to undo the mounts
    assert report["parent_death_signal"] == 9                  # dies with its parent (kill -9 of the grader)
    assert not (layout[3] / "own.txt").exists()                 # it wrote into its own copy of its folder
    assert "AWS_SECRET_ACCESS_KEY" not in report["environment"] and "COURSE_OFFLINE" in report["environment"]
    assert report["own_loopback"] == "allowed"                  # a loopback of its own ...
    assert report["host_listener"] == "ConnectionRefusedError"  # ... not the machine's
    assert report["outside"] == "OSError"                       # no route out (ENETUNREACH)


LIMITS_PROBE = r'''
import json, os, time
report = {}
try:
    with open("filler.bin", "wb") as handle:
        for mebibytes in range(1000):
            handle.write(b"x" * 2**20)
except OSError as error:
    report["disk"] = [mebibytes, error.strerror]
os.remove("filler.bin")
try:
    for files in range(100_000):
        open(f"/tmp/file-{files}", "w").close()
except OSError as error:
    report["files"] = [files, error.strerror]
children = []
try:
    while len(children) < 1000:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except OSError as error:
    report["processes"] = [len(children), error.strerror]
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
report["uid_outside"] = open("/proc/self/uid_map").read().split()[1]
print(json.dumps(report))
'''


@pytest.mark.skipif(not sandbox.available()[0], reason="no user namespaces (see test_autograde's availability test)")
def test_the_sandbox_limits_disk_files_and_processes(layout, kernel_server):
    """Writes stop at the disk limit, files at the file limit, forks at the process limit; the
    kernel's user is not the real root even when the grader runs as root (root ignores the last)."""
    tmp_path, secret, public, work, spec = layout
    spec["limits"] = {"disk_bytes": 16 * 2**20, "files": 300, "processes": 24}
    before = shutil.disk_usage(tmp_path).used
    report = run_probe((tmp_path, secret, public, work, spec), kernel_server, LIMITS_PROBE)
    assert report["disk"][1] == "No space left on device" and 8 <= report["disk"][0] <= 16
    assert report["files"][1] == "No space left on device" and 200 <= report["files"][0] < 300
    assert report["processes"][1] == "Resource temporarily unavailable" and 5 <= report["processes"][0] < 24
    assert report["uid_outside"] == (str(os.getuid()) if os.getuid() != 0 else "65534")
    assert abs(shutil.disk_usage(tmp_path).used - before) < 8 * 2**20   # the probe's writes never reached the disk


def test_the_sandbox_refuses_a_kernel_folder_outside_the_plan(layout, tmp_path, kernel_server):
    if not sandbox.available()[0]:
        pytest.skip("no user namespaces")
    tmp_path, secret, public, work, spec = layout
    spec["cwd_under"] = str(tmp_path / "elsewhere")
    with pytest.raises(AssertionError, match="not inside"):
        run_probe((tmp_path, secret, public, work, spec), kernel_server)


# ---------------------------------------------------------------- recorded answers

def test_replay_returns_the_recorded_answer_for_the_same_inputs(tmp_path, monkeypatch):
    table = tmp_path / "table.json"
    namespace = {"double": lambda array, label, layer="a": np.asarray(array) * 2 + label}
    replay.record(namespace, ["double"], str(table))
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 3, 3, 8)).astype(np.float32)
    expected = namespace["double"](features[:2], 1, layer="b")
    monkeypatch.setenv(replay.TABLE_VARIABLE, str(table))
    double = replay.replay_attribute("double")
    # float32 round-off in a recomputed input still finds the answer ...
    noisy = features[:2] * np.float32(1 + 1e-7)
    np.testing.assert_array_equal(double(noisy, 1, layer="b"), expected)
    assert double(noisy, 1, layer="b").dtype == expected.dtype
    # ... other inputs, another label or layer do not.
    for args, kwargs in [((features[2:4], 1), {"layer": "b"}), ((features[:2], 0), {"layer": "b"}),
                         ((features[:2], 1), {"layer": "a"}), ((features[:2], 1), {})]:
        with pytest.raises(LookupError, match="no reference answer"):
            double(*args, **kwargs)
    with pytest.raises(AttributeError):
        replay.replay_attribute("triple")


def test_a_revealed_answer_keeps_a_few_values_and_compares_on_them(tmp_path, monkeypatch):
    """Lesson 01's table keeps four pixels of each 28×28 CAM: a correct map still passes np.allclose
    against the replayed answer, a wrong one does not, and the table holds no more than those pixels
    (ten full answers would give away the whole linear upsampling: the red team's least squares)."""
    from grader import reference

    table = tmp_path / "table.json"
    rng = np.random.default_rng(1)
    features, weights = rng.normal(size=(3, 3, 3, 8)), rng.normal(size=(8, 10))
    results = rng.random((3, 10))
    namespace = {"show_cam_reference": reference.show_cam_reference}
    replay.record(namespace, ["show_cam_reference"], str(table), revealed={"show_cam_reference": 4})
    full = namespace["show_cam_reference"](1, features, results, weights)
    [entry] = json.loads(table.read_text())
    assert len(entry["answer"]) == 4 and len(entry["revealed"]) == 4 and full.shape == (28, 28)
    monkeypatch.setenv(replay.TABLE_VARIABLE, str(table))
    expected = replay.replay_attribute("show_cam_reference")(1, features, results, weights)
    assert expected.shape == (28, 28) and np.ma.count(expected) == 4
    assert np.allclose(full, expected, rtol=1e-4, atol=1e-4)
    wrong = full.copy()
    wrong.ravel()[entry["revealed"][2]] += 0.5
    assert not np.allclose(wrong, expected, rtol=1e-4, atol=1e-4)
    assert float(np.abs(full - expected).max()) == 0.0 and float(np.abs(expected).max()) <= np.abs(full).max()


def test_models_are_told_apart_by_their_architecture():
    keras = pytest.importorskip("keras")
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    large = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert replay.fingerprint(small) == ["model", 1, 10]
    assert replay.fingerprint(small) != replay.fingerprint(large)
    assert replay.fingerprint("top_conv") == ["str", "top_conv"]
    assert replay.fingerprint(np.int64(3)) == ["int", 3]


def test_a_mount_left_writable_stops_the_kernel(tmp_path, monkeypatch):
    """If a remount failed, the sandbox refuses to run the kernel instead of running it unprotected."""
    monkeypatch.setattr(sandbox, "_mount_points", lambda: ["/proc", str(tmp_path)])
    with pytest.raises(SystemExit, match="could not be made read-only"):
        sandbox._refuse_writable_mounts(writable=set(), private=set(), targets=set())
    sandbox._refuse_writable_mounts(writable={str(tmp_path)}, private=set(), targets=set())   # meant to be writable
    hidden_old_mount = tmp_path / "old"
    hidden_old_mount.mkdir()
    monkeypatch.setattr(sandbox, "_mount_points", lambda: [str(hidden_old_mount)])
    sandbox._refuse_writable_mounts(writable=set(), private={str(tmp_path)}, targets=set())
    with pytest.raises(SystemExit):
        sandbox._refuse_writable_mounts(writable=set(), private={str(tmp_path)}, targets={str(hidden_old_mount)})


# ---------------------------------------------------------------- the machine's other ways in

KEYCTL = {"x86_64": 250, "aarch64": 219}[os.uname().machine]   # system call numbers (no keyutils needed)
ADD_KEY = {"x86_64": 248, "aarch64": 217}[os.uname().machine]

KEYRING_ZYGOTE = r'''
import ctypes, json, os, sys
from grader.sandbox import zygote
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
assert libc.syscall(ctypes.c_long(int(sys.argv[2])), ctypes.c_long(1), None) > 0   # a session keyring of its own
serial = libc.syscall(ctypes.c_long(int(sys.argv[3])), b"user", b"course-canary", b"canary-key-7f3c",
                      ctypes.c_size_t(15), ctypes.c_long(-3))   # KEY_SPEC_SESSION_KEYRING
assert serial > 0, ctypes.get_errno()
process, path = zygote.start(sys.argv[1], os.environ, preload=())
print(json.dumps({"serial": serial, "socket": path, "zygote": process.pid}), flush=True)
process.wait()
'''


@pytest.fixture(scope="module")
def keyring_kernel_server(tmp_path_factory):
    """A zygote started by a process whose session keyring holds a key (as an instructor's login
    may): ``(socket path, key serial, zygote pid)``."""
    folder = tmp_path_factory.mktemp("keyring-zygote")
    wrapper = subprocess.Popen([sys.executable, "-c", KEYRING_ZYGOTE, str(folder), str(KEYCTL), str(ADD_KEY)],
                               stdout=subprocess.PIPE, text=True, cwd=sandbox.Path(__file__).parents[1])
    started = json.loads(wrapper.stdout.readline())
    yield started["socket"], started["serial"], started["zygote"]
    wrapper.kill()
    wrapper.wait()


APART_PROBE = r'''
import ctypes, json, mmap, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
report = {}
buffer = ctypes.create_string_buffer(4096)
def keyctl(*arguments):
    result = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in arguments])
    return result if result >= 0 else -ctypes.get_errno()
keyctl_number, serial = int(sys.argv[5]), int(sys.argv[6])
report["read_key"] = keyctl(keyctl_number, 11, serial, buffer, 4096)            # KEYCTL_READ of the grader's key
report["session_keys"] = keyctl(keyctl_number, 11, -3, buffer, 4096)           # what @s holds (bytes of key ids)
report["shmget"] = libc.shmget(0, 2**20, 0o1600) if True else 0
report["shmget_errno"] = ctypes.get_errno()
report["msgget"] = libc.msgget(0, 0o1600)
report["semget"] = libc.semget(0, 1, 0o1600)
def connect(path):
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(path)
        client.sendall(b"hello from a kernel")
for name, path in json.loads(sys.argv[7]).items():
    try:
        connect(path)
        report[name] = "connected"
    except OSError as error:
        report[name] = type(error).__name__
memfd = os.memfd_create("hoard")
os.write(memfd, b"m" * (48 * 2**20))
with open("/tmp/hoard.bin", "wb") as handle:
    handle.write(b"t" * (40 * 2**20))
print(json.dumps(report), flush=True)
time.sleep(8)   # while the test counts what it holds
'''


@pytest.mark.skipif(not sandbox.available()[0], reason="no user namespaces (see test_autograde's availability test)")
@pytest.mark.skipif(os.getuid() != 0,
                    reason="needs root to put listeners in /run and /dev, as services do (CI runs as root)")
def test_the_sandbox_keeps_the_machines_keys_sockets_ipc_and_memory_apart(layout, keyring_kernel_server):
    """A kernel reads no key of the grader's session keyring, makes no System V object, reaches no
    Unix socket of the machine (under /run, in a service's folder, in /dev), and what it holds in a
    memfd and its private /tmp counts toward the memory limit (grader.sandbox.processes)."""
    from grader.pipeline import isolation
    from grader.sandbox.processes import held_outside_bytes, process_tree

    socket_path, serial, zygote_pid = keyring_kernel_server
    tag = f"course-test-{os.getpid()}"
    sockets = {"run": f"/run/{tag}.sock", "service": f"/var/lib/{tag}/service.sock", "dev": f"/dev/{tag}.sock"}
    heard = []
    listeners = [unix_listener(path, heard) for path in sockets.values()]
    try:
        tmp_path, secret, public, work, spec = layout
        folders, files = isolation._machine_sockets()
        assert f"/var/lib/{tag}" in folders and f"/dev/{tag}.sock" in files and "/run" in folders
        spec = {**spec, "hide": spec["hide"] + folders, "cover": files}
        kernelspec_env = sandbox.write_kernelspec(tmp_path, spec)
        argv = json.loads((tmp_path / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())["argv"]
        command = argv[:argv.index("--") + 1] + [sys.executable, "-c", APART_PROBE, "-", "-", "-", "-", str(KEYCTL),
                                                 str(serial), json.dumps(sockets)]
        client = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, **kernelspec_env, zygote.VARIABLE: socket_path})
        report = json.loads(client.stdout.readline())
        held = held_outside_bytes([process.pid for process in process_tree(zygote_pid)])
        client.wait(timeout=30)
    finally:
        for listener, path in zip(listeners, sockets.values()):
            listener.close()
            os.unlink(path)
        os.rmdir(f"/var/lib/{tag}")
    assert report["read_key"] < 0 and report["session_keys"] == 0, report   # a new, empty session keyring
    assert (report["shmget"], report["msgget"], report["semget"]) == (-1, -1, -1), report
    assert {name: report[name] for name in sockets} == {"run": "FileNotFoundError", "service": "FileNotFoundError",
                                                        "dev": "ConnectionRefusedError"}, report
    assert heard == []
    assert 88 * 2**20 <= held < 100 * 2**20, held   # the 48 MiB memfd and the 40 MiB in its /tmp
