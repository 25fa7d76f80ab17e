"""Kernels forked from a zygote (grader/sandbox/zygote.py): fresh for each notebook, interruptible, and gone
with their client."""

import json
import os
import queue
import signal
import time

import psutil
import pytest
from jupyter_client import KernelManager

from grader.sandbox import namespaces as sandbox
from grader.sandbox import zygote


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """A zygote that preloads NumPy and ipykernel, and a kernelspec that asks it for a kernel."""
    folder = tmp_path_factory.mktemp("zygote")
    process, socket_path = zygote.start(str(folder), os.environ, preload=("numpy", "ipykernel.kernelapp"))
    kernel_dir = folder / "jupyter" / "kernels" / "forked"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({"argv": sandbox.kernel_command(), "display_name": "forked",
                                                         "language": "python"}))
    saved = dict(os.environ)
    os.environ.update({"JUPYTER_PATH": str(folder / "jupyter"), zygote.VARIABLE: socket_path})
    yield process
    os.environ.clear()
    os.environ.update(saved)
    process.kill()
    process.wait()


def start_kernel(**environment):
    manager = KernelManager(kernel_name="forked")
    manager.start_kernel(env={**os.environ, **environment})
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return manager, client


def run(client, code, timeout=30):
    """The text the kernel printed for ``code``, or its error name."""
    printed = []

    def keep(message):
        if message["msg_type"] in ("stream", "error"):
            printed.append(message["content"].get("text", message["content"].get("ename", "")))

    reply = client.execute_interactive(code, timeout=timeout, output_hook=keep)
    # execute_interactive stops at the kernel's idle status; on a loaded machine a cell's output can
    # come after it (CI at 1440b80: '' for print(6 * 7)). Take what comes late for this cell.
    deadline = time.monotonic() + 2
    while not printed and time.monotonic() < deadline:
        try:
            message = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        if message["parent_header"].get("msg_id") == reply["parent_header"].get("msg_id"):
            keep(message)
    return "".join(printed).strip(), reply["content"]["status"]


def kernel_processes(manager):
    """The forked kernel behind the client process nbgrader would see."""
    return [p for p in psutil.Process(os.getpid()).children(recursive=True) if p.name() == "course-kernel"]


def test_each_kernel_starts_fresh_and_apart(kernels, tmp_path):
    first, first_client = start_kernel(COURSE_SEEN_BY_THE_KERNEL="yes", GRADER_CANARY_SECRET="canary-4b1d",
                                       COURSE_API_TOKEN="canary-5e2a")
    second, second_client = start_kernel()
    try:
        state = "import numpy, random, sys; print(numpy.random.randint(1 << 30), random.random(), sys.argv[0])"
        draws = [run(client, state)[0].split() for client in (first_client, second_client)]
        assert draws[0][:2] != draws[1][:2]                      # its own random state, not the zygote's
        assert draws[0][2] == "ipykernel_launcher"
        assert run(first_client, "import os; print(os.environ.get('COURSE_SEEN_BY_THE_KERNEL'))")[0] == "yes"
        assert run(second_client, "import os; print(os.environ.get('COURSE_SEEN_BY_THE_KERNEL'))")[0] == "None"
        # Only the kernel's variables reach the zygote: nothing else is anywhere in the kernel's memory.
        # (the needles are split: they are not in this source)
        search = ("import gc; print(sum(isinstance(o, dict) and any(('canary' '-4b1d') in str(v) or ('canary' '-5e2a') "
                  "in str(v) for v in o.values()) for o in gc.get_objects()))")
        assert run(first_client, search)[0] == "0"
        run(first_client, "import numpy; numpy.LEFT_BEHIND = 1")
        assert run(second_client, "import numpy; print(hasattr(numpy, 'LEFT_BEHIND'))")[0] == "False"
        grader_modules = "import sys; print([m for m in sys.modules if m.split('.')[0] == 'grader'])"
        assert run(first_client, grader_modules)[0] == "[]"   # the kernel forgot every grader module
        assert len(kernel_processes(first)) == 2
    finally:
        for manager, client in ((first, first_client), (second, second_client)):
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def test_an_interrupt_reaches_the_kernel_and_a_killed_client_takes_it_along(kernels):
    manager, client = start_kernel()
    try:
        started = time.monotonic()
        client.execute("import time; print('sleeping', flush=True); time.sleep(60)")
        # Interrupt once the cell runs (on a loaded machine, a fixed pause could end before it starts).
        message = client.get_iopub_msg(timeout=30)
        while not (message["msg_type"] == "stream" and "sleeping" in message["content"].get("text", "")):
            message = client.get_iopub_msg(timeout=30)
        time.sleep(0.5)   # past the print's flush, into the sleep
        manager.interrupt_kernel()   # SIGINT to the client, passed on by the supervisor
        reply = client.get_shell_msg(timeout=20)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - started < 20
        assert run(client, "print(6 * 7)")[0] == "42"             # the kernel lives on after the interrupt
        kernel = kernel_processes(manager)
        assert len(kernel) == 1
        manager.provisioner.process.send_signal(signal.SIGKILL)  # the client dies as nbgrader's kill does it
        psutil.wait_procs(kernel, timeout=10)
        assert not kernel[0].is_running() or kernel[0].status() == psutil.STATUS_ZOMBIE
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
