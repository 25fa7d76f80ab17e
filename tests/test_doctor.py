"""``python -m grader doctor`` (grader/sandbox/doctor.py): on this machine the sandbox works; each failure
made real here (a nested user namespace allowed none, one with a single id, a seccomp filter that
refuses a system call, no ``setpriv`` on PATH) names its own part and remedy. AppArmor's
restriction cannot be made here (no AppArmor in this kernel): its test takes a real probe whose
mounts a seccomp filter refused, and sets what Ubuntu's kernel would show beside it (the sysctl,
the label after unshare)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from grader.course import REPO_ROOT
from grader.sandbox import doctor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces")

# Run ``python -m grader doctor --json`` under a seccomp filter that makes one system call fail with
# an errno (for unshare: only when its flags hold MASK), as a container runtime's profile does.
SECCOMP = r'''
import ctypes, os, struct, sys
number, mask, error = (int(value, 0) for value in sys.argv[1:4])
libc = ctypes.CDLL(None, use_errno=True)
def op(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)
LOAD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
program = [op(LOAD, 4), op(JEQ, 0xC000003E, 0, 5),                # x86_64 only
           op(LOAD, 0), op(JEQ, number, 0, 3),                    # the system call
           op(LOAD, 16), op(JSET, mask, 0, 1),                    # ... with one of these flags
           op(RET, 0x00050000 | error), op(RET, 0x7FFF0000)]      # SECCOMP_RET_ERRNO, SECCOMP_RET_ALLOW
if not mask:                                                       # any call: compare the number again
    program[4:6] = [op(LOAD, 0), op(JEQ, number, 0, 1)]
class Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
code = b"".join(program)
fprog = Filter(len(program), code)
assert libc.prctl(38, 1, 0, 0, 0) == 0                     # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, os.strerror(ctypes.get_errno())   # SECCOMP_MODE_FILTER
os.execv(sys.executable, [sys.executable, "-m", "grader", "doctor", "--json"])
'''
MOUNT, UNSHARE, KEYCTL = 165, 272, 250   # x86_64
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
EPERM, EACCES = 1, 13
x86_64 = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the seccomp filter is written for x86_64")
needs_unshare = pytest.mark.skipif(shutil.which("unshare") is None,
                                   reason="unshare (util-linux) makes the nested namespace")


def _doctor(prefix=(), env=None, arguments=("--json",)):
    result = subprocess.run([*prefix, sys.executable, "-m", "grader", "doctor", *arguments], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120, env=env)
    return result


def _json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def _under_seccomp(number, mask=0, error=EPERM):
    result = subprocess.run([sys.executable, "-c", SECCOMP, str(number), str(mask), str(error)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    return result.returncode, _json(result)


def _failed(report):
    return doctor.failed_step(report)


def test_here_the_sandbox_works():
    result = _doctor(arguments=())
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("The kernel sandbox works here")
    steps = [line.strip() for line in lines if line.startswith("  ")]
    assert len(steps) == 17 and all(step.startswith("ok") for step in steps), steps
    assert steps[-1] == "ok   a command in the sandbox through the zygote (as autograde's kernels)"
    report = _json(_doctor())
    assert report["works"] is True and _failed(report) is None


@needs_unshare
def test_no_user_namespace_left_names_the_sysctl():
    """Nested in a user namespace whose max_user_namespaces is 0: a real ENOSPC."""
    result = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c",
                             f"echo 0 > /proc/sys/user/max_user_namespaces && exec {sys.executable} -m grader doctor"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "  FAIL user namespace: ENOSPC: unshare(CLONE_NEWUSER): No space left on device" in result.stdout
    assert "user.max_user_namespaces = 0" in result.stdout
    assert "Remedy: sudo sysctl -w user.max_user_namespaces=15000" in result.stdout
    assert "ok   mount namespace" not in result.stdout   # nothing after the failing part is tried


@needs_unshare
def test_root_in_a_namespace_of_one_id_cannot_map_the_kernel_to_nobody():
    """As root in a user namespace that maps only root (a rootless container of one id): the user
    namespace works, the zygote's id mapping (root to nobody) does not. The old check (the unshare
    binary with --map-root-user) said the sandbox was available here."""
    report = _json(_doctor(prefix=("unshare", "--user", "--map-root-user")))
    assert report["works"] is False
    step = _failed(report)
    assert (step["part"], step["detail"], step["mapped_to"]) == ("id mapping", "EPERM: Operation not permitted", 65534)
    assert any(line.startswith("Remedy: run the grader as an ordinary user") for line in report["diagnosis"])


@x86_64
def test_a_refused_network_namespace_is_named():
    code, report = _under_seccomp(UNSHARE, CLONE_NEWNET)
    assert code == 1
    step = _failed(report)
    assert (step["part"], step["detail"]) == ("network namespace", "EPERM: unshare(CLONE_NEWUSER|CLONE_NEWNET): "
                                                                  "Operation not permitted")
    assert [(s["part"], s["ok"]) for s in report["steps"]] == [   # each namespace is tried; nothing after them
        ("setpriv", True), ("user namespace", True), ("mount namespace", True), ("PID namespace", True),
        ("network namespace", False), ("IPC namespace", True)]
    assert "Cause: an unprivileged network namespace cannot be made in a user namespace here" in report["diagnosis"][1]


@x86_64
def test_refused_mounts_name_the_mount_and_the_container_options():
    code, report = _under_seccomp(MOUNT)
    assert code == 1
    step = _failed(report)
    assert (step["part"], step["detail"]) == ("mount: a private /proc", "EPERM: sandbox: cannot mount  on /: "
                                                                       "Operation not permitted")
    diagnosis = "\n".join(report["diagnosis"])
    assert "seccomp profile" in report["diagnosis"][1] and "refuse it" in report["diagnosis"][1]
    assert 'README, "Grading in a container"' in diagnosis and "course-grader" not in diagnosis


@x86_64
def test_ubuntu_s_apparmor_restriction_gets_the_profile():
    """The probe of the mount test, with what Ubuntu 24.04's kernel shows beside it: the sysctl at 1
    and the label the process takes in its new user namespace."""
    code, report = _under_seccomp(MOUNT)
    report["facts"]["sysctls"]["kernel.apparmor_restrict_unprivileged_userns"] = "1"
    report["steps"][6]["label"] = "unprivileged_userns (enforce)"
    assert report["steps"][6]["part"].startswith("unshare: user, mount, PID")
    works, lines = doctor.report_lines(report)
    text = "\n".join(lines)
    assert not works
    assert "unshare: user, mount, PID, network and IPC namespaces at once (AppArmor label inside: " \
           "unprivileged_userns (enforce))" in text
    python = os.path.realpath(sys.executable)
    assert f"here the grader's Python is {python}" in text
    assert "examples/apparmor/course-grader, which grants 'userns'" in text
    assert "  sudo install -m 644 course-grader /etc/apparmor.d/course-grader && " \
           "sudo apparmor_parser -r /etc/apparmor.d/course-grader" in lines
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in text


@x86_64
def test_a_user_namespace_refused_by_apparmor_without_its_transition_profile():
    """Without the unprivileged_userns profile, Ubuntu refuses the namespace itself (EACCES)."""
    code, report = _under_seccomp(UNSHARE, CLONE_NEWUSER, EACCES)
    assert code == 1 and _failed(report)["part"] == "user namespace" and "EACCES" in _failed(report)["detail"]
    report["facts"]["sysctls"]["kernel.apparmor_restrict_unprivileged_userns"] = "1"
    works, lines = doctor.diagnose(report)
    assert not works and "Cause: AppArmor's restriction" in lines[1]
    assert "  python -m grader doctor --write-apparmor-profile course-grader" in lines


@x86_64
def test_a_refused_keyring_is_named():
    code, report = _under_seccomp(KEYCTL)
    assert code == 1 and _failed(report)["part"] == "session keyring"
    assert "keyctl is refused" in report["diagnosis"][1]


def test_no_setpriv_on_path(tmp_path):
    """A PATH with util-linux's unshare but not setpriv: the sandbox is unavailable, and why."""
    if shutil.which("unshare"):
        (tmp_path / "unshare").symlink_to(shutil.which("unshare"))
    result = _doctor(env={**os.environ, "PATH": str(tmp_path)})
    report = _json(result)
    assert result.returncode == 1
    assert [(s["part"], s["ok"]) for s in report["steps"][:1]] == [("setpriv", False)]
    assert report["diagnosis"][1].startswith("Remedy: install util-linux")
    code = "from grader.sandbox import namespaces; print(namespaces.available())"
    check = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PATH": str(tmp_path)})
    assert "(False, 'setpriv fails (setpriv (util-linux) is not on PATH)" in check.stdout


def test_the_written_profile_names_this_python(tmp_path):
    out = tmp_path / "course-grader"
    result = _doctor(arguments=("--write-apparmor-profile", out))
    assert result.returncode == 0
    text = out.read_text()
    assert f"@{{course_python}} = {os.path.realpath(sys.executable)}\n" in text
    assert "\nprofile course-grader @{course_python} flags=(unconfined) {\n" in text
    assert text.count("\n  userns,\n") == 1
    assert text.replace(f"@{{course_python}} = {os.path.realpath(sys.executable)}", "") == \
        doctor.PROFILE_TEMPLATE.read_text().replace("@{course_python} = /opt/course/.venv/bin/python3", "")


@pytest.mark.skipif(shutil.which("apparmor_parser") is None and not os.path.exists("/usr/sbin/apparmor_parser"),
                    reason="apparmor_parser (Debian: apt-get install apparmor) is not installed")
def test_the_profile_parses(tmp_path):
    """``apparmor_parser -Q -K`` (parse, load nothing, no cache). AppArmor 4 (Ubuntu 24.04) parses
    the file as written; an older parser (Debian 12's 3.0) knows neither abi 4.0 nor the ``userns``
    rule, so it checks the rest: the file with abi 3.0 and without that one rule."""
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    profile = tmp_path / "course-grader"
    profile.write_text(doctor.profile_text())
    version = subprocess.run([parser, "--version"], capture_output=True, text=True).stdout.split()[3]
    if int(version.split(".")[0]) < 4:
        text = profile.read_text()
        assert text.count("abi <abi/4.0>,") == 1 and text.count("\n  userns,\n") == 1
        profile.write_text(text.replace("abi <abi/4.0>,", "abi <abi/3.0>,").replace("\n  userns,\n", "\n"))
    result = subprocess.run([parser, "-Q", "-K", "-d", str(profile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr   # the parser writes its debugging dump to both
    assert "Name:\t\tcourse-grader" in said and "Mode: unconfined" in said


# ---------------------------------------------------------------- a class graded without the sandbox says so

MARK_CLASS = {"ann": "reference", "bea": "true_label"}
ROSTER = "student_id,name\nann,Ann\nbea,Bea\n"


def _grade(submissions, course, isolate, *students, path=None):
    """``python -m grader autograde`` (``path``: the PATH it runs with); ``(exit code, stdout)``."""
    environment = dict(os.environ, **({"PATH": path} if path else {}))
    result = subprocess.run([sys.executable, "-m", "grader", "autograde", str(submissions), "--course-dir", str(course),
                             "--jobs", "1", "--timeout", "300", "--isolate", isolate, "--progress", "lines",
                             *[f"--student={s}" for s in students]],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=environment)
    return result.returncode, result.stdout


def _marks(course):
    """Each student's mark in grades.csv, its result file and class.json."""
    import csv

    with open(course / "grades.csv", encoding="utf-8") as handle:
        csv_marks = {row["student_id"]: row["sandboxed"] for row in csv.DictReader(handle)}
    results = {s: json.loads((course / "results" / f"{s}__01_mnist_cam.json").read_text())["sandboxed"]
               for s in MARK_CLASS}
    listed = {e["student_id"]: e["sandboxed"] for e in json.loads((course / "class.json").read_text())["submissions"]}
    return csv_marks, results, listed


def _export(course, tmp_path):
    roster, out = tmp_path / "roster.csv", tmp_path / "grades-out.csv"
    roster.write_text(ROSTER)
    result = subprocess.run([sys.executable, "-m", "grader", "export", "--format", "csv", "--roster", str(roster),
                             "--course-dir", str(course), str(out)], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    return result, out


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux")
def test_the_mark_lasts_in_grades_csv_the_summary_class_json_the_report_and_export(tmp_path):
    """--isolate off, then --isolate on (the sandbox works here: it regrades both, the key holds
    the isolation), then one student regraded under --isolate auto where the sandbox cannot be
    built (a PATH without setpriv: a real fallback): one row of two says no, in every place."""
    from grader.sandbox import namespaces as sandbox

    if not sandbox.available()[0]:
        pytest.skip("the sandbox does not work here (python -m grader doctor)")
    submissions, course = tmp_path / "submissions", tmp_path / "course"
    for student, kind in MARK_CLASS.items():
        from submissions import build

        build.write(build.notebook_01(kind), submissions, student)

    code, out = _grade(submissions, course, "off")
    assert code == 0, out[-3000:]
    assert _marks(course) == ({"ann": "no", "bea": "no"}, {"ann": False, "bea": False}, {"ann": False, "bea": False})
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("2 of 2 notebooks were graded WITHOUT the sandbox: ann/01_mnist_cam, bea/01_mnist_cam. "
                           "Their kernels could read the reference answers"), out[-2000:]
    page = (course / "report.html").read_text()
    assert '<p id="unsandboxed-warning" class="warning">2 of 2 notebooks were graded WITHOUT the sandbox' in page
    result, written = _export(course, tmp_path)
    assert result.returncode == 0 and written.is_file()
    warnings = [line for line in result.stderr.splitlines() if "WITHOUT the sandbox" in line]
    assert warnings == [f"warning: 2 of 2 notebooks in grades.csv were graded WITHOUT the sandbox (ann/01_mnist_cam, "
                        f"bea/01_mnist_cam): their kernels could read the reference answers and write where the "
                        f"grader's user can; regrade them with the sandbox (`python -m grader doctor`) before these "
                        f"grades go to the LMS ({written} is written all the same)"]

    code, out = _grade(submissions, course, "on")
    assert code == 0, out[-3000:]
    assert "2 notebook(s) graded, 0 reused" in out   # the key holds the isolation: nothing unsandboxed is reused
    assert _marks(course) == ({"ann": "yes", "bea": "yes"}, {"ann": True, "bea": True}, {"ann": True, "bea": True})
    assert "WITHOUT the sandbox" not in out and "WITHOUT the sandbox" not in (course / "report.html").read_text()
    result, _ = _export(course, tmp_path)
    assert result.returncode == 0 and "WITHOUT the sandbox" not in result.stderr

    no_setpriv = tmp_path / "bin"
    no_setpriv.mkdir()
    for program in ("unshare",):
        (no_setpriv / program).symlink_to(shutil.which(program))
    code, out = _grade(submissions, course, "auto", "ann", path=str(no_setpriv))
    assert code == 0, out[-3000:]
    assert out.startswith("warning: kernels run unsandboxed: setpriv fails (setpriv (util-linux) is not on PATH)")
    assert _marks(course) == ({"ann": "no", "bea": "yes"}, {"ann": False, "bea": True}, {"ann": False, "bea": True})
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("1 of 2 notebooks were graded WITHOUT the sandbox: ann/01_mnist_cam."), out[-2000:]
    collected = subprocess.run([sys.executable, "-m", "grader", "collect", "--course-dir", str(course)], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=600)
    assert collected.returncode == 0
    assert collected.stdout.rstrip().splitlines()[-1].startswith("1 of 2 notebooks were graded WITHOUT the sandbox: "
                                                                 "ann/01_mnist_cam.")
    result, _ = _export(course, tmp_path)
    assert result.returncode == 0 and "warning: 1 of 2 notebooks in grades.csv were graded WITHOUT" in result.stderr
