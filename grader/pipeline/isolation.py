"""What a sandboxed kernel sees: the recorded reference answers and the sandbox's layout.

:func:`reference_table` runs an assignment's solution notebook once in the grader's own
(trusted) process with the reference functions recording their answers; the table is kept
in the course cache, keyed by everything it depends on. :func:`prepare_kernel` writes, for
one submission, the kernelspec and the mount plan of :mod:`grader.sandbox`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grader.course import REPO_ROOT, SOLUTIONS_DIR, drop_cells_after_last_test, nbgrader_environment, tail
from grader.sandbox import namespaces as sandbox
from grader.sandbox import replay
from grader.sandbox.processes import run_with_limits
from helpers import cache_dir, write_atomically

GRADER_DIR = Path(__file__).resolve().parents[1]
TABLES = "grader-references"
SYSTEM_FOLDERS = {"/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/opt", "/var", "/proc", "/sys", "/dev"}
PLAIN_KERNEL_NAME = "course-python"
MODEL_FILES = (".h5", ".keras", ".npz", ".npy")   # what the recorded answers depend on in the cache
CAPTURE_FILE = "capture.npz"   # in the exchange folder: the only file there the kernel may write
# Where the machine's services and its other users keep Unix sockets: hidden, with the folder of
# every socket bound now (a network namespace does not cover sockets reached by a path). What the
# kernel needs from these (the venv, the repository's helpers, the cache) is bound back.
SOCKET_FOLDERS = ("/run", "/var/run", "/var/spool", "/home", "/mnt", "/media", "/srv")

log = logging.getLogger(__name__)


def _table_key(assignment):
    """A hash of the solution, the reference (grader/reference.py and grader/checks/, where its functions
    live), replay.py, the helpers and the model and data files in the cache.

    A cached file counts by its name, size and modification time in whole seconds: a container
    image's layer keeps no finer time, so an image built with warm caches finds its tables."""
    digest = hashlib.sha256()
    paths = [SOLUTIONS_DIR / f"{assignment}.ipynb", GRADER_DIR / "reference.py", GRADER_DIR / "sandbox" / "replay.py"]
    paths += sorted((GRADER_DIR / "checks").glob("*.py"))   # where the reference functions live
    paths += sorted((REPO_ROOT / "helpers").glob("*.py"))
    for path in paths:
        digest.update(path.name.encode() + path.read_bytes())
    cache = cache_dir()
    for path in sorted(cache.rglob("*")):
        if path.is_file() and path.name.endswith(MODEL_FILES) and TABLES not in path.parts:
            stat = path.stat()
            digest.update(f"{path.relative_to(cache)}|{stat.st_size}|{stat.st_mtime_ns // 10**9}".encode())
    return digest.hexdigest()[:20]


def reference_table(assignment: str, timeout_seconds: float = 1800) -> Path:
    """Path of the recorded reference answers of ``assignment`` (recorded now when missing).

    Raises RuntimeError with the notebook's last lines when the solution does not run. A solution
    whose hidden tests call no function of :mod:`grader.reference` records an empty table.
    """
    folder = cache_dir() / TABLES
    path = folder / f"{assignment}-{_table_key(assignment)}.json"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    log.info("recording the reference answers of %s (runs the solution notebook once)", assignment)
    with tempfile.TemporaryDirectory(prefix="grader-record-") as work:
        work = Path(work)
        notebook = work / f"{assignment}.ipynb"
        solution = json.loads((SOLUTIONS_DIR / notebook.name).read_text())
        drop_cells_after_last_test(solution["cells"])   # they record nothing
        notebook.write_text(json.dumps(solution))
        recorded = work / "table.json"
        environment = nbgrader_environment()
        environment[replay.RECORD_VARIABLE] = str(recorded)
        environment.setdefault("MPLBACKEND", "Agg")
        result = run_with_limits(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output", "executed",
             f"--ExecutePreprocessor.timeout={timeout_seconds}", str(notebook)],
            cwd=work, env=environment, timeout_seconds=timeout_seconds)
        if result.returncode != 0:
            raise RuntimeError(f"the solution notebook {assignment} did not run, so the reference answers "
                               f"could not be recorded:\n{tail(result.stdout, 8)}")
        if not recorded.exists():   # it ran, and its hidden tests call no grader.reference function
            recorded.write_text("[]")
        # The run may have filled the model cache: file the table under the key of the cache it used.
        path = folder / f"{assignment}-{_table_key(assignment)}.json"
        write_atomically(path, lambda temporary: shutil.copyfile(recorded, temporary))
    return path


def prepare_kernel(scratch: str | Path, table: str | Path, hidden: list, kernel_folder: str | Path,
                   limits: dict[str, int]) -> tuple[str, dict, Path, dict]:
    """Prepare the sandboxed kernel of one submission graded in ``scratch`` (its private folder).

    ``table`` is the recorded answers' path; ``hidden`` are more folders the kernel must not see
    (the course folder, the submissions); ``limits`` (``disk_bytes``, ``files``, ``processes``:
    :meth:`grader.config.GradingConfig.kernel_limits`) bound what the kernel may write and start.
    Returns ``(kernel name, environment, exchange folder, nbgrader settings)``. The kernel reads the
    recorded answers and the exchange folder (read-only) and writes only the exchange folder's
    ``capture.npz``, its private ``/tmp`` and a private copy of the folder its notebook runs in,
    which must be ``kernel_folder`` (nbgrader's autograded copy).
    """
    scratch = Path(scratch).resolve()
    stub = scratch / "view" / "grader"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""The grader, as the sandboxed kernel sees it: recorded answers only."""\n')
    shutil.copy2(GRADER_DIR / "sandbox" / "replay.py", stub / "replay.py")
    (stub / "reference.py").write_text('"""Replays recorded reference answers (see replay.py)."""\n'
                                       "from grader.replay import replay_attribute as __getattr__  # noqa: F401\n")
    exchange, answers, runtime = scratch / "exchange", scratch / "answers", scratch / "runtime"
    for folder in (exchange, answers, runtime):
        folder.mkdir()
    capture = exchange / CAPTURE_FILE
    capture.touch(mode=0o666)
    capture.chmod(0o666)   # the kernel may run as nobody (see grader.sandbox.zygote)
    ipc_config = _unix_sockets(scratch)
    (scratch / "ipc").chmod(0o777)
    shutil.copyfile(table, answers / "reference-answers.json")
    cache = cache_dir().resolve()
    data = REPO_ROOT / "data"   # the course's own files, once it has some
    socket_folders, socket_files = _machine_sockets()
    spec = {
        "hide": [folder for folder in [str(REPO_ROOT), str(Path.home()), *map(str, hidden), *socket_folders]
                 if os.path.realpath(folder) not in SYSTEM_FOLDERS],
        "cover": socket_files,
        "hide_writable": ["/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir()],
        "bind": [[sys.base_prefix, sys.base_prefix, False], [sys.prefix, sys.prefix, False],
                 [str(REPO_ROOT / "helpers"), str(REPO_ROOT / "helpers"), False],
                 *([[str(data), str(data), False]] if data.is_dir() else []),
                 [str(stub), str(REPO_ROOT / "grader"), False],
                 [str(cache), str(cache), False],
                 [str(answers), str(answers), False],
                 [str(exchange), str(exchange), False],
                 [str(capture), str(capture), True],
                 [str(scratch / "ipc"), str(scratch / "ipc"), True]],
        "cwd_under": str(Path(kernel_folder).resolve()),
        "limits": dict(limits),
        "read_only_after_start": [str(scratch / "ipc")],
    }
    kernel_env = {"HOME": "/tmp/home", "TMPDIR": "/tmp", "COURSE_CACHE": str(cache),
                  "MPLCONFIGDIR": "/tmp/home/.config/matplotlib",
                  replay.TABLE_VARIABLE: str(answers / "reference-answers.json")}
    environment = sandbox.write_kernelspec(scratch, spec, kernel_env)
    environment["JUPYTER_RUNTIME_DIR"] = str(runtime)
    return sandbox.KERNEL_NAME, environment, exchange, ipc_config


def _machine_sockets():
    """``(folders to hide, socket files to cover)``: the folders of the Unix sockets bound on this
    machine now (``/proc/net/unix``, this network namespace's), or the socket file itself where
    its folder is a system folder the kernel needs (``/dev/log``)."""
    folders, files = list(SOCKET_FOLDERS), []
    try:
        with open("/proc/net/unix") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return folders, files
    for line in lines:
        fields = line.split(None, 7)
        if len(fields) < 8 or not fields[7].startswith("/"):
            continue   # unnamed, or abstract (@...): the network namespace covers those
        path = os.path.realpath(fields[7])
        parent = os.path.dirname(path)
        if parent in SYSTEM_FOLDERS:
            files.append(path)
        else:
            folders.append(parent)
    return folders, files


def _unix_sockets(scratch):
    """nbgrader's settings that make it talk to the kernel over Unix sockets in ``scratch/ipc``
    (the sandboxed kernel has no network to answer TCP on); their paths must stay short."""
    folder = Path(scratch) / "ipc"
    folder.mkdir(exist_ok=True)
    if len(str(folder / "k-65535").encode()) > 100:
        raise RuntimeError(f"the kernel's socket folder {folder} is too long a path for Unix sockets (set TMPDIR)")
    return {"KernelManager.transport": "ipc", "KernelManager.ip": str(folder / "k")}


def plain_kernel(scratch: str | Path, limits: dict[str, int]) -> tuple[str, dict, Path, dict]:
    """The unsandboxed kernel of one submission graded in ``scratch``: forked from the job's zygote
    like a sandboxed one, without the namespaces, as the grader's user. Returns ``(kernel name,
    environment, exchange folder, nbgrader settings)``."""
    scratch = Path(scratch).resolve()
    kernel_dir = scratch / "jupyter" / "kernels" / PLAIN_KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    spec_path = scratch / "limits.json"   # no sandbox: only the file size and process limits hold
    spec_path.write_text(json.dumps({"sandbox": False, "limits": dict(limits)}))
    argv = sandbox.kernel_command(spec_path)
    (kernel_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (course)",
                                                         "language": "python"}, indent=1))
    return PLAIN_KERNEL_NAME, {"JUPYTER_PATH": str(scratch / "jupyter")}, scratch, _unix_sockets(scratch)
