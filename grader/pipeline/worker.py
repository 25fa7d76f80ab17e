"""One long-lived nbgrader process per job: nbgrader is imported once, not once per notebook.

Importing nbgrader costs a Python process about 4 s of CPU; with a fresh ``python -m nbgrader``
per notebook that was a third of grading a notebook. :class:`Worker` starts
``python -m grader.pipeline.worker`` once and sends it one request per notebook (a JSON line):
``{"command": "autograde" | "feedback" | "generate", "course_dir", "assignment", "student", "environment",
"config"}``. The worker runs nbgrader's own ``autograde``, ``generate_feedback`` or
``generate_assignment`` (its Python API; ``generate`` ignores ``student``) in that course folder
and answers with a JSON line: ``success``, nbgrader's
``log``, the seconds of each phase (``nbgrader``, ``kernel_start``, ``execute``, ``kernel_stop``)
and ``timed_out_cells``, the numbers of the cells interrupted at the limit for one cell: both
recorded by the course's nbgrader configuration's Execute, :class:`grader.pipeline.preprocessors.GraderExecute`
(nbclient's public hooks; nothing of nbclient is patched).

The caller keeps the limits: a notebook past its time or memory limit is killed with the
whole worker (and its kernel); the next request starts a new worker. Every worker and kernel
dies with its parent (``setpriv --pdeathsig``), so nothing outlives a killed grader.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace

from grader.sandbox import zygote
from grader.sandbox.processes import MemoryWatch, die_with_parent, kill_tree

POLL_SECONDS = 0.2
STARTUP_SECONDS = 300
KEPT_ERROR_BYTES = 256 * 1024   # of the worker's stderr, for the reasons of failed notebooks


# ---------------------------------------------------------------- the grader's side

class Worker:
    """A ``python -m grader.pipeline.worker`` process; :meth:`call` sends one request under limits."""

    def __init__(self, environment: dict[str, str]) -> None:
        # Its own temporary folder (jupyter_client's connection files land there), removed with it.
        self.temporary = tempfile.mkdtemp(prefix="grader-worker-")
        self.process = subprocess.Popen(
            [*die_with_parent(), sys.executable, "-m", "grader.pipeline.worker"],
            env={**environment, "TMPDIR": self.temporary},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.answers = queue.Queue()
        # The end of the worker's and its kernels' stderr (each kernel's relayed by its client, at
        # most 64 KiB): bytes, bounded in bytes, decoded only when read.
        self.errors, self.error_bytes, self.errors_lock = collections.deque(), 0, threading.Lock()
        threading.Thread(target=self._read_answers, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()
        self.ready = None   # seconds the worker took to start, once known
        self.notebooks = 0   # notebooks sent to it: a worker is clean until its first kernel has run

    def _read_answers(self):
        """One answer (a JSON line) at a time; None when the worker has gone."""
        for line in self.process.stdout:
            self.answers.put(line.decode("utf-8", errors="replace"))
        self.answers.put(None)

    def _read_errors(self, kept_bytes=KEPT_ERROR_BYTES):
        """Keep the last ``kept_bytes`` of the worker's stderr, whatever its bytes are."""
        for chunk in iter(lambda: self.process.stderr.read1(1 << 16), b""):
            with self.errors_lock:
                self.errors.append(chunk)
                self.error_bytes += len(chunk)
                while self.error_bytes - len(self.errors[0]) >= kept_bytes:
                    self.error_bytes -= len(self.errors.popleft())

    def error_output(self) -> str:
        """The end of the worker's stderr, as text (invalid UTF-8 replaced)."""
        with self.errors_lock:
            kept = b"".join(self.errors)
        return kept[-KEPT_ERROR_BYTES:].decode("utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def _answer(self, deadline, memory_limit_bytes):
        """The next answer line, or ``(None, "timeout" | "memory" | "died")``."""
        memory = MemoryWatch(self.process.pid, memory_limit_bytes)
        while True:
            try:
                line = self.answers.get(timeout=POLL_SECONDS)
            except queue.Empty:
                line = ""
            if line:
                return json.loads(line), None
            if line is None or not self.alive():
                return None, "died"
            if time.monotonic() > deadline:
                return None, "timeout"
            if memory.over():
                return None, "memory"

    def call(self, request: dict, timeout_seconds: float | None = None,
             memory_limit_bytes: int | None = None) -> SimpleNamespace:
        """Send ``request``; return ``SimpleNamespace(answer, failure, output)``.

        ``failure`` is None, "timeout", "memory" or "died" (the worker is then killed with its
        kernel and must be replaced); ``output`` is the end of the worker's stderr.
        """
        if self.ready is None:
            answer, failure = self._answer(time.monotonic() + STARTUP_SECONDS, None)
            if failure:
                self.kill()
                return SimpleNamespace(answer=None, failure="died", output=self.error_output())
            self.ready = answer["seconds"]
        if request.get("command") == "autograde":
            self.notebooks += 1
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        limit = time.monotonic() + (timeout_seconds if timeout_seconds is not None else float("inf"))
        answer, failure = self._answer(limit, memory_limit_bytes)
        if failure:
            self.kill()
        return SimpleNamespace(answer=answer, failure=failure, output=self.error_output())

    def kill(self) -> None:
        kill_tree(self.process.pid)
        self.process.wait()
        shutil.rmtree(self.temporary, ignore_errors=True)

    def close(self) -> None:
        """Let the worker finish and exit (killed after 10 s)."""
        if self.alive():
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        shutil.rmtree(self.temporary, ignore_errors=True)


# ---------------------------------------------------------------- inside the worker

def _handle(request):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config, PyFileConfigLoader

    from grader.pipeline.preprocessors import PHASE_MARKS, TIMED_OUT_CELLS

    course_dir = request["course_dir"]
    saved_environment = dict(os.environ)
    for name, value in request.get("environment", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    PHASE_MARKS.clear()
    TIMED_OUT_CELLS.clear()
    started = time.monotonic()
    try:
        os.chdir(course_dir)
        config = PyFileConfigLoader("nbgrader_config.py", path=course_dir).load_config()
        extra = Config()
        for option, value in request.get("config", {}).items():
            section, name = option.split(".")
            extra[section][name] = value
        config.merge(extra)
        coursedir = CourseDirectory(config=config)
        api = NbGraderAPI(coursedir=coursedir, config=config)
        if request["command"] == "generate":
            result = api.generate_assignment(request["assignment"], force=True)
        else:
            run = api.autograde if request["command"] == "autograde" else api.generate_feedback
            result = run(request["assignment"], request["student"])
    except Exception as error:   # a broken request or course folder: say so, keep serving
        result = {"success": False, "log": f"{error.__class__.__name__}: {error}"}
    finally:
        os.environ.clear()
        os.environ.update(saved_environment)
    total = time.monotonic() - started
    phases = {}
    if "kernel" in PHASE_MARKS and "ready" in PHASE_MARKS:
        phases["kernel_start"] = PHASE_MARKS["ready"] - PHASE_MARKS["kernel"]
        phases["execute"] = PHASE_MARKS.get("cells_done", PHASE_MARKS.get("stopped", time.monotonic())) \
            - PHASE_MARKS["ready"]
    if "cells_done" in PHASE_MARKS and "stopped" in PHASE_MARKS:
        phases["kernel_stop"] = PHASE_MARKS["stopped"] - PHASE_MARKS["cells_done"]
    phases["nbgrader"] = total - sum(phases.values())
    log = (result.get("log") or "") + ("\n" + result["error"] if result.get("error") else "")
    return {"success": bool(result.get("success")), "log": log[-200_000:], "timed_out_cells": list(TIMED_OUT_CELLS),
            "phases": {name: round(seconds, 3) for name, seconds in phases.items()}}


def main() -> int:
    started = time.monotonic()
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)   # anything else written to stdout (nbgrader, libraries) goes to stderr
    sys.stdout = sys.stderr
    # The kernels' zygote imports TensorFlow while this process imports nbgrader.
    _, os.environ[zygote.VARIABLE] = zygote.start(tempfile.gettempdir(), os.environ)
    import nbgrader.apps  # noqa: F401  (the import this process exists to do once)

    import grader.pipeline.preprocessors  # noqa: F401  (nbgrader imports it by name for each notebook)
    print(json.dumps({"seconds": round(time.monotonic() - started, 3)}), file=protocol)
    for line in sys.stdin:
        print(json.dumps(_handle(json.loads(line))), file=protocol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
