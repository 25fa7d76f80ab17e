"""Hostile submissions, round 2 (issue 20): a Canvas download of 01 where every hostile case
(tests/submissions/hostile_01.py) comes before three correct students, graded with ``--jobs 1``
by the real grader (``python -m grader autograde``, sandboxed) whose environment holds canary
credentials and whose session keyring holds a canary key.

One submission must not change another's grade, leak the grader's secrets, or take the grading
machine's memory: the three correct students get 5/5, every hostile case its stated grade, no
canary appears in anything a kernel or a student can see, no System V segment is left, no
listener of the machine hears a kernel, and the grader's own process stays under 1 GiB.
"""

import csv
import html
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from submissions import build
from submissions.hostile_01 import CANARY_PREFIX, CASES, CORRECT_STUDENTS, Probe, notebook_bytes
from submissions.listeners import unix_listener

from grader.course import REPO_ROOT
from grader.sandbox.namespaces import available

KEYCTL, ADD_KEY = {"x86_64": (250, 248)}.get(os.uname().machine, (None, None))
TIMEOUT_SECONDS, CELL_TIMEOUT_SECONDS, MEMORY_LIMIT_GIB = 130, 40, 4
PEAK_MEMORY_LIMIT = 2**30   # the grader's own process (not its workers and kernels)

# The grader, started in a session keyring of its own holding a canary key: KEYRING_GRADER KEY -- COMMAND...
KEYRING_GRADER = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
keyctl, add_key, payload = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
assert libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(1), None) > 0, ctypes.get_errno()   # JOIN_SESSION_KEYRING
serial = libc.syscall(ctypes.c_long(add_key), b"user", b"lms-token", payload, ctypes.c_size_t(len(payload)),
                      ctypes.c_long(-3))
assert serial > 0, ctypes.get_errno()
print(serial, flush=True)
sys.stdin.read()   # the test writes the download, then closes our stdin
os.execv(sys.executable, [sys.executable, *sys.argv[5:]])
'''


def _shm_keys():
    """The keys of the machine's System V shared memory segments (what ``ipcs -m`` lists)."""
    with open("/proc/sysvipc/shm") as handle:
        return {int(line.split()[0]) for line in handle.read().splitlines()[1:]}


class PeakMemory:
    """The peak resident memory of one process (``VmHWM``), read every 0.2 s while it runs."""

    def __init__(self, pid):
        self.pid, self.peak_bytes = pid, 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while True:
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            found = re.search(r"^VmHWM:\s+(\d+) kB", status, flags=re.M)
            if found:
                self.peak_bytes = max(self.peak_bytes, int(found.group(1)) * 1024)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    if not available()[0] or KEYCTL is None:
        pytest.skip(f"needs user namespaces and x86_64 ({available()[1] or os.uname().machine})")
    folder = tmp_path_factory.mktemp("hostile")
    canaries = {name: CANARY_PREFIX + secrets.token_hex(8)
                for name in ("CANVAS_API_TOKEN", "GRADER_CANARY", "COURSE_API_KEY", "keyring")}
    heard, listeners, sockets = [], [], {}
    if os.getuid() == 0:   # where services keep their sockets (only root may put one there)
        tag = f"course-hostile-{os.getpid()}"
        sockets = {"run": f"/run/{tag}.sock", "service": f"/var/lib/{tag}/service.sock", "dev": f"/dev/{tag}.sock"}
        listeners = [unix_listener(path, heard) for path in sockets.values()]
    keys_before = _shm_keys()
    # The grader's session keyring gets its canary key before any notebook exists: the serial is
    # known only then, and the keyring reader asks for it by number.
    download = folder / "canvas.zip"
    course_dir = folder / "course"
    command = [sys.executable, "-c", KEYRING_GRADER, str(KEYCTL), str(ADD_KEY), canaries["keyring"], "--",
               "-m", "grader", "autograde", str(download), "--course-dir", str(course_dir), "--lms", "canvas",
               "--jobs", "1", "--isolate", "on", "--timeout", str(TIMEOUT_SECONDS),
               "--cell-timeout", str(CELL_TIMEOUT_SECONDS), "--memory-limit", str(MEMORY_LIMIT_GIB),
               "--progress", "lines"]
    environment = {**os.environ, **{name: value for name, value in canaries.items() if name != "keyring"}}
    started = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # The keyring wrapper prints the key's serial, then waits for the download before the exec.
    serial = int(started.stdout.readline())
    ids = {}
    with zipfile.ZipFile(download, "w") as archive:
        for number, (name, (make, *_)) in enumerate([*CASES.items(), *[(n, (None,)) for n in CORRECT_STUDENTS]]):
            user_id = (1001 if name in CASES else 9001) + number
            ids[str(user_id)] = name
            content = make(Probe(serial, sockets)) if make else build.with_show_cam(
                build.SHOW_CAM_BODIES["correct_einsum"])
            archive.writestr(f"student{user_id}_{user_id}_{70000 + number}_01_mnist_cam.ipynb", notebook_bytes(content))
    started.stdin.close()
    peak = PeakMemory(started.pid)
    output = started.stdout.read().decode(errors="replace")
    exit_code = started.wait()
    peak.thread.join(timeout=5)
    for listener, path in zip(listeners, sockets.values()):
        listener.close()
        os.unlink(path)
    if sockets:
        os.rmdir(Path(sockets["service"]).parent)
    keys_after = _shm_keys()
    print(output[-3000:])
    for student, name in ids.items():   # what each hostile case found, for the log
        path = course_dir / "autograded" / student / "01_mnist_cam" / "01_mnist_cam.ipynb"
        if path.is_file():
            printed = [line for cell in json.loads(path.read_text())["cells"] for output in cell.get("outputs", [])
                       for line in "".join(output.get("text", "")).splitlines() if re.match(r"[A-Z]+:? ", line)]
            print(name, [line[:200] for line in printed[:8]])
    print(f"the grader's peak resident memory: {peak.peak_bytes / 2**20:.0f} MiB")
    with open(course_dir / "grades.csv") as handle:
        rows = {ids[row["student_id"]]: row for row in csv.DictReader(handle)}
    yield {"exit": exit_code, "output": output, "rows": rows, "course_dir": course_dir, "ids": ids,
           "canaries": canaries, "heard": heard, "sockets": sockets, "new_segments": keys_after - keys_before,
           "peak": peak.peak_bytes}


def _notebook_text(hostile_class, name):
    """Everything the autograded notebook of case ``name`` printed."""
    student = next(user_id for user_id, case in hostile_class["ids"].items() if case == name)
    path = hostile_class["course_dir"] / "autograded" / student / "01_mnist_cam" / "01_mnist_cam.ipynb"
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(output.get("text", "")) for cell in cells for output in cell.get("outputs", []))


def _page(hostile_class, name):
    student = next(user_id for user_id, case in hostile_class["ids"].items() if case == name)
    return (hostile_class["course_dir"] / "feedback" / student / "01_mnist_cam" / "01_mnist_cam.html").read_text()


def test_the_correct_students_after_every_hostile_case_get_full_marks(hostile_class):
    rows = hostile_class["rows"]
    assert hostile_class["exit"] == 0, hostile_class["output"][-2000:]
    assert {name: (float(rows[name]["score"]), rows[name]["status"]) for name in CORRECT_STUDENTS} == {
        name: (5.0, "graded") for name in CORRECT_STUDENTS}
    # ... and they were graded last, after every hostile case (one job: one after another).
    results = hostile_class["course_dir"] / "results"
    order = sorted(results.glob("*.json"), key=lambda path: path.stat().st_mtime)
    assert {hostile_class["ids"][path.name.split("__")[0]] for path in order[-3:]} == set(CORRECT_STUDENTS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_hostile_case_gets_its_stated_grade(hostile_class, name):
    _, score, status, words = CASES[name]
    row = hostile_class["rows"][name]
    assert float(row["score"]) == score, row
    if status:
        assert row["status"] == status, row
    assert words in row["reason"], row


def test_no_canary_reaches_a_kernel_or_a_page(hostile_class):
    """The grader's environment and its session key appear in no autograded notebook, feedback
    page, result or grades.csv, though the hostile cases searched memory, /proc and the keyring."""
    leaked = {}
    for path in hostile_class["course_dir"].rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked.update({name: str(path) for name, value in hostile_class["canaries"].items()
                           if value.encode() in data})
    assert leaked == {}
    assert "ENVIRONMENT: found nothing" in _notebook_text(hostile_class, "environment_search")
    keyring = _notebook_text(hostile_class, "keyring_reader")
    assert "session keyring holds 0 keys" in keyring and re.search(r"read: -\d+ b''", keyring), keyring


def test_no_service_of_the_machine_hears_a_kernel(hostile_class):
    if not hostile_class["sockets"]:
        pytest.skip("needs root to put listeners in /run, /var/lib and /dev (CI runs as root)")
    printed = _notebook_text(hostile_class, "unix_sockets")
    assert hostile_class["heard"] == []
    assert sorted(re.findall(r"SOCKET (\w+) (\w+)", printed)) == [
        ("dev", "ConnectionRefusedError"), ("run", "FileNotFoundError"), ("service", "FileNotFoundError")]


def test_no_system_v_memory_is_made_or_left_behind(hostile_class):
    assert hostile_class["new_segments"] == set()
    assert "SHM: made [-22, -22, -22]" in _notebook_text(hostile_class, "shm_writer")
    assert "SHM: no segment -2" in _notebook_text(hostile_class, "shm_reader")


def test_the_graders_own_process_stays_under_one_gib(hostile_class):
    assert 0 < hostile_class["peak"] < PEAK_MEMORY_LIMIT, hostile_class["peak"]


def _secret_lines():
    """The lines of 01's hidden tests (and their markers) that the student's notebook does not show."""
    shown = {line.strip() for cell in build.load_student_notebook()["cells"]
             for line in "".join(cell["source"]).splitlines()}
    secret = set()
    for cell in build.solution_notebook()["cells"]:
        source = "".join(cell["source"])
        for block in re.findall(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", source, flags=re.S):
            secret.update(line.strip() for line in block.splitlines() if line.strip() not in shown)
    return secret - {""}


def test_feedback_shows_no_hidden_test_and_no_active_html(hostile_class):
    """prints_hidden_tests printed its callers' source: the visible tests may show, no line of a
    hidden test may (nor its markers); fake_html's script, handlers and fake score are inert."""
    secret = _secret_lines()
    assert len(secret) >= 5 and any("show_cam_reference" in line for line in secret)
    hidden = _page(hostile_class, "prints_hidden_tests")
    text = html.unescape(re.sub(r"<[^>]+>", "", hidden))
    assert "Self-check passed" in text or "image 1" in text   # the page shows the notebook's outputs
    assert sorted(line for line in secret if line in text) == []
    active = build.ActiveParts(_page(hostile_class, "fake_html"))
    assert not any("owned" in script for script in active.scripts), active.scripts   # only the template's own
    assert (active.handlers, active.urls, active.frames) == ([], [], [])
    assert not any("5 / 5" in heading for heading in active.headings), active.headings


def test_huge_output_is_bounded_in_bytes(hostile_class):
    course_dir = hostile_class["course_dir"]
    student = next(user_id for user_id, case in hostile_class["ids"].items() if case == "huge_print")
    notebook = course_dir / "autograded" / student / "01_mnist_cam" / "01_mnist_cam.ipynb"
    page = course_dir / "feedback" / student / "01_mnist_cam" / "01_mnist_cam.html"
    assert notebook.stat().st_size < 5 * 2**20 and page.stat().st_size < 10 * 2**20
