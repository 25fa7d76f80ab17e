"""The grading image (``Containerfile``, README "Grading in a container") built with Podman from a
local Debian base, and the sample class graded inside it with the kernel sandbox on: the same
grades as the same class graded on the host.

The base is made here, offline but for Debian's mirror: ``debootstrap --variant=minbase bookworm``
with python3 and python3-venv, imported with ``podman import`` (no image registry is reached). Its
tarball is kept in the clone's ``build/container/`` and the image in Podman's store, so a second
run rebuilds only what changed. The build mounts the host's pip cache (and its CA bundle, when
pip needs one to reach PyPI) into the build; the image builds its own course cache (weights,
01's network, the recorded reference answers), which is what this test checks: the container
grades with ``--network none`` and records nothing.

Podman runs with ``examples/container/containers.conf`` (``CONTAINERS_CONF``): the ``runc``
runtime, and no default ulimits above this machine's hard limits (README, measured facts).
Debian's podman, runc and debootstrap are needed (``.ci/run`` installs them); without them the
test skips and names the package.
"""

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.course import NOTEBOOKS_DIR, REPO_ROOT, SOLUTIONS_DIR

WORK = REPO_ROOT / "build" / "container"
BASE_TARBALL = WORK / "debian-bookworm-minbase.tar"
BASE_IMAGE = "localhost/seeing-inside-cnns-base:bookworm"
IMAGE = "localhost/seeing-inside-cnns-grader:test"
CONTAINERS_CONF = REPO_ROOT / "examples" / "container" / "containers.conf"
BASE_PACKAGES = "python3,python3-venv"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What the README's run line gives Podman beyond its defaults, and why (measured here):
# a fresh /proc for the kernel's PID namespace, which Linux refuses while parts of the
# container's /proc are masked or read-only.
SANDBOX_OPTIONS = ["--security-opt", "unmask=/proc/*"]
NOTEBOOKS = ("01_mnist_cam", "03_cats_dogs_gradcam")
BUILD_TIMEOUT = 45 * 60
GRADE_TIMEOUT = 20 * 60
SYSTEM_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _missing():
    """The Debian packages this test needs and this machine lacks."""
    return [package for package, program in (("podman", "podman"), ("runc", "runc"), ("debootstrap", "debootstrap"))
            if shutil.which(program, path=SYSTEM_PATH) is None]


def _environment():
    environment = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF), PATH=SYSTEM_PATH)
    environment.pop("PYTEST_CURRENT_TEST", None)
    return environment


def _run(command, timeout, check=True, **kwargs):
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} exited {result.returncode}:\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _podman(*arguments, timeout=600, check=True):
    return _run(["podman", *arguments], timeout, check=check)


def _base_image():
    """Import the Debian base, making its tarball with debootstrap first when the clone has none
    (nothing to do when Podman's store has the base already)."""
    if _podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return
    WORK.mkdir(parents=True, exist_ok=True)
    if not BASE_TARBALL.exists():
        rootfs = WORK / "debootstrap-rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        _run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs),
              "http://deb.debian.org/debian"], timeout=1200)
        partial = BASE_TARBALL.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], timeout=600)
        partial.rename(BASE_TARBALL)
        shutil.rmtree(rootfs, ignore_errors=True)
    _podman("import", str(BASE_TARBALL), BASE_IMAGE)


def _image_id(name):
    result = _podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def build_command():
    """``podman build`` as CI runs it: the local base, the host's pip cache, the host's CA bundle."""
    asked = _run([sys.executable, "-m", "pip", "cache", "dir"], timeout=60, check=False)
    pip_cache = Path(asked.stdout.strip() if asked.returncode == 0 else Path.home() / ".cache" / "pip")
    pip_cache.mkdir(parents=True, exist_ok=True)
    command = ["podman", "build", "--build-arg", f"BASE={BASE_IMAGE}",
               "--volume", f"{pip_cache}:/root/.cache/pip", "-t", IMAGE, "-f", "Containerfile"]
    if CA_BUNDLE.exists():   # behind a TLS-inspecting proxy pip needs the host's bundle (as here)
        command += ["--volume", f"{CA_BUNDLE}:/run/build-ca.crt:ro", "--build-arg", "PIP_CERT=/run/build-ca.crt"]
    return command + ["."]


@pytest.fixture(scope="module")
def image():
    missing = _missing()
    if missing:
        pytest.skip(f"Podman cannot run here: install Debian's {', '.join(missing)} "
                    f"(apt-get install {' '.join(missing)}; .ci/run does)")
    started = time.monotonic()
    _base_image()
    based = time.monotonic()
    before = _image_id(IMAGE)
    _run(build_command(), timeout=BUILD_TIMEOUT, cwd=REPO_ROOT)
    after = _image_id(IMAGE)
    if before and before != after:
        _podman("rmi", before, check=False)   # the previous build's image, when no layer of it is in use
    print(f"base {based - started:.0f} s, build {time.monotonic() - based:.0f} s")
    return IMAGE


@pytest.fixture(scope="module")
def sample_class(tmp_path_factory):
    """tools.run_all's sample class: the reference solution and the untouched student notebook of
    01 and 03."""
    folder = tmp_path_factory.mktemp("container") / "submissions"
    for student, source in (("reference", SOLUTIONS_DIR), ("untouched", NOTEBOOKS_DIR)):
        (folder / student).mkdir(parents=True)
        for name in NOTEBOOKS:
            shutil.copyfile(source / f"{name}.ipynb", folder / student / f"{name}.ipynb")
    return folder


def _grade_in_container(submissions, course_dir, options=SANDBOX_OPTIONS):
    course_dir.mkdir(parents=True, exist_ok=True)
    return _podman("run", "--rm", "--network", "none", *options,
                   "--volume", f"{submissions}:/submissions:ro", "--volume", f"{course_dir}:/course-dir",
                   IMAGE, "autograde", "/submissions", "--course-dir", "/course-dir", "--isolate", "on",
                   "--jobs", "2", "--progress", "lines", timeout=GRADE_TIMEOUT, check=False)


def _rows(course_dir):
    """grades.csv's rows without the seconds each notebook took."""
    with open(course_dir / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row.pop("seconds")
    return sorted(rows, key=lambda row: (row["student_id"], row["notebook"]))


def test_the_sample_class_gets_the_hosts_grades_in_the_container_sandboxed_and_offline(image, sample_class, tmp_path):
    started = time.monotonic()
    in_container = _grade_in_container(sample_class, tmp_path / "container")
    container_seconds = time.monotonic() - started
    output = in_container.stdout + in_container.stderr
    assert in_container.returncode == 0, output[-4000:]
    # The image's caches hold the recorded answers under the key the container computes.
    assert "recording the reference answers" not in output, output[-4000:]

    started = time.monotonic()
    on_host = _run([sys.executable, "-m", "grader", "autograde", str(sample_class),
                    "--course-dir", str(tmp_path / "host"), "--isolate", "on", "--jobs", "2", "--progress", "lines"],
                   timeout=GRADE_TIMEOUT, cwd=REPO_ROOT)
    print(f"container {container_seconds:.0f} s, host {time.monotonic() - started:.0f} s")
    assert on_host.returncode == 0

    container_rows, host_rows = _rows(tmp_path / "container"), _rows(tmp_path / "host")
    assert [(row["student_id"], row["notebook"], row["score"], row["status"]) for row in container_rows] == [
        ("reference", "01_mnist_cam", "5.0", "graded"), ("reference", "03_cats_dogs_gradcam", "7.0", "graded"),
        ("untouched", "01_mnist_cam", "0.0", "graded"), ("untouched", "03_cats_dogs_gradcam", "0.0", "graded")]
    assert container_rows == host_rows
    if "sandboxed" in container_rows[0]:
        assert {row["sandboxed"] for row in container_rows} == {"yes"}


def test_without_the_proc_option_the_container_refuses_to_grade_sandboxed(image, sample_class, tmp_path):
    """Why the run line unmasks /proc: with Podman's defaults the kernel's private /proc cannot be
    mounted, and ``--isolate on`` stops before grading anything."""
    result = _grade_in_container(sample_class, tmp_path / "course", options=[])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cannot be sandboxed" in output and "/proc" in output, output[-2000:]
    assert not (tmp_path / "course" / "grades.csv").exists()


def test_the_ignore_files_for_podman_and_docker_agree():
    """Podman reads .containerignore, Docker .dockerignore: the same patterns (comments aside)."""
    def patterns(name):
        lines = (REPO_ROOT / name).read_text().splitlines()
        return [line for line in lines if line.strip() and not line.startswith("#")]

    assert patterns(".containerignore") == patterns(".dockerignore")
    assert ".venv" in patterns(".containerignore") and "build" in patterns(".containerignore")


def test_the_readme_and_the_kubernetes_job_ask_for_what_the_sandbox_needs():
    """The documented Podman line gives what this test gives; the Kubernetes pods run this image
    with the pod-level equivalents and refuse to grade unsandboxed."""
    import yaml

    readme = (REPO_ROOT / "README.md").read_text()
    assert "podman run --rm --network none --security-opt 'unmask=/proc/*'" in readme
    assert "--security-opt seccomp=unconfined --security-opt systempaths=unconfined" in readme
    _, job = yaml.safe_load_all((REPO_ROOT / "examples" / "kubernetes" / "grade-job.yaml").read_text())
    (collect_job,) = yaml.safe_load_all((REPO_ROOT / "examples" / "kubernetes" / "collect-job.yaml").read_text())
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (collector,) = collect_job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == collector["image"] and container["image"].startswith("registry.example.org/")
    assert pod["hostUsers"] is False and container["securityContext"]["procMount"] == "Unmasked"
    assert pod["securityContext"]["seccompProfile"]["type"] == "Unconfined"
    assert container["args"][container["args"].index("--isolate") + 1] == "on"
