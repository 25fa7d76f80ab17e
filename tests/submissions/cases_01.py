"""The battery for 01_mnist_cam: right, wrong, broken and hostile submissions, each with the
score it must get (out of 5) and, for the broken ones, the status and words of the reason.

Built from the current student/solution notebooks at test time, so it never goes stale.
"""

from submissions import build

BODIES = build.SHOW_CAM_BODIES
RANDOM_MAP = "prediction = 0\ncam_output = np.random.default_rng(0).random((28, 28))"

LIAR = '''
class _Liar(np.ndarray):
    """An array that answers True to every numpy function and every comparison."""
    def __array_function__(self, function, types, args, kwargs):
        return True
    def __eq__(self, other):
        return True
prediction = 0
cam_output = np.random.default_rng(0).random((28, 28)).view(_Liar)
'''


# Hostile: exhaust the grading machine. Each cell goes on until it is refused, says so, then the tests run.
DISK_FILLER = """
mebibytes = 0
try:
    with open("filler.bin", "wb") as handle:
        while True:
            handle.write(b"x" * 2**20)
            mebibytes += 1
except OSError as error:
    print(f"LIMIT disk: refused after {mebibytes} MiB: {error.strerror}")
"""
# The children are spawned (vfork and exec of sleep), not forked: a fork copies the page tables of a
# kernel that holds TensorFlow, and on a busy CI machine 250 forks outlasted the limit for one cell.
FORK_BOMB = """
import os
children = []
try:
    while len(children) < 100_000:
        children.append(os.posix_spawn("/bin/sleep", ["sleep", "120"], {}))
except OSError as error:
    print(f"LIMIT processes: refused after {len(children)} processes: {error.strerror}")
finally:   # also when the limit for one cell interrupts the forking (a busy machine)
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
"""
MANY_FILES = """
import os
os.makedirs("many", exist_ok=True)
files = 0
try:
    while files < 1_000_000:
        open(f"many/{files}", "w").close()
        files += 1
except OSError as error:
    print(f"LIMIT files: refused after {files} files: {error.strerror}")
"""


def _student(body=None):
    return build.with_show_cam(body) if body else build.load_student_notebook()


def _hostile(code, body=None):
    """A submission that runs ``code`` just before the graded tests."""
    return build.with_code_cell_before_tests(_student(body), code)


# name: (builder, expected score, expected status, words in the reason)
CASES = {
    "reference": (lambda: build.solution_notebook(), 5, "graded", "all tests passed"),
    "untouched": (lambda: _student(), 0, "graded", "failed"),
    "correct_einsum": (lambda: _student(BODIES["correct_einsum"]), 5, "graded", "all tests passed"),
    "correct_channel_loop": (lambda: _student(BODIES["correct_channel_loop"]), 5, "graded", "all tests passed"),
    "true_label": (lambda: _student(BODIES["true_label"]), 3, "graded", "test_show_cam_predicted_class"),
    "no_upsampling": (lambda: _student(BODIES["no_upsampling"]), 0, "graded", "failed"),
    "order_1": (lambda: _student(BODIES["order_1"]), 1, "graded", "failed"),
    "normalized": (lambda: _student(BODIES["normalized"]), 1, "graded", "failed"),
    # Cells after the last graded test cannot change the grade, so the grader does not run them.
    "raises_after_tests": (lambda: build.with_code_cell_at_end(_student(BODIES["correct_einsum"]),
                                                               "raise RuntimeError('an experiment gone wrong')"),
                           5, "graded", "all tests passed"),
    "loops_after_tests": (lambda: build.with_code_cell_at_end(_student(BODIES["correct_einsum"]),
                                                              "while True:\n    pass"),
                          5, "graded", "all tests passed"),
    # Contained by the sandbox's limits (disk, processes, files): refused, then graded on their merits.
    "disk_filler": (lambda: _hostile(DISK_FILLER, BODIES["correct_einsum"]), 5, "graded", "all tests passed"),
    "fork_bomb": (lambda: _hostile(FORK_BOMB, BODIES["correct_einsum"]), 5, "graded", "all tests passed"),
    "many_files": (lambda: _hostile(MANY_FILES, BODIES["correct_einsum"]), 5, "graded", "all tests passed"),
    # Bad files.
    "not_json": (lambda: "this is not a notebook {", 0, "invalid", "not a valid notebook"),
    "empty_file": (lambda: "", 0, "invalid", "not a valid notebook"),
    "json_not_notebook": (lambda: '{"cells": 5}', 0, "invalid", "not a valid notebook"),
    "solution_cell_deleted": (lambda: build.without_cell(_student(), "show_cam"), 0, "graded", "failed"),
    # Broken kernels.
    "crash": (lambda: build.with_first_code_cell("import os\nos._exit(3)"), 0, "error", "kernel died"),
    # A cell that ignores the interrupt at the limit for one cell runs into the notebook's limit.
    "hang": (lambda: build.with_first_code_cell("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                                "time.sleep(10**6)"), 0, "timeout", "limit"),
    # A runaway cell is interrupted at the limit for one cell; the tests after it earn what they earn.
    "loops_before_tests": (lambda: _hostile("while True:\n    pass", BODIES["correct_einsum"]),
                           5, "graded", "all tests passed; cell"),
    "loops_in_show_cam": (lambda: _student(BODIES["correct_einsum"] + "import time\nwhile True:\n    time.sleep(1)\n"),
                          0, "graded", "limit for one cell"),   # (a loop that sleeps: 5 cells x 12 s of CPU saved)
    # 1 GB at a time: the memory cap is crossed within seconds, well before the limit for one cell.
    "memory_hog": (lambda: build.with_first_code_cell(
        "hog = []\nwhile True:\n    hog.append(b'x' * 10**9)"), 0, "memory", "memory cap"),
    "output_flood": (lambda: _hostile("for line in range(200_000):\n    print('x' * 100)", BODIES["correct_einsum"]),
                     5, "graded", "all tests passed"),
    # Hostile: the in-kernel tests are fooled, the independent check is not.
    "tampered_tests": (lambda: build.tampered(BODIES["true_label"]), 3, "graded", "test_show_cam_predicted_class"),
    "allclose_patched": (lambda: _hostile(
        "np.allclose = lambda *args, **kwargs: True\nnp.testing.assert_allclose = lambda *args, **kwargs: None",
        RANDOM_MAP), 1, "graded", "independent check: test_show_cam_predicted_class, test_show_cam_values"),
    "always_equal_array": (lambda: _student(LIAR), 1, "graded", "failed"),
    "errors_and_tracebacks_off": (lambda: _hostile(
        "ip = get_ipython()\nip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
        "ip.showtraceback = lambda *args, **kwargs: None\nip._showtraceback = lambda *args, **kwargs: None"),
        0, "graded", "failed"),
    # Hostile, contained by the sandbox: the reference and solutions are not on the kernel's disk.
    # (Writing to the gradebook, results, other students and the grader: writes_everywhere, added by the test.)
    "steals_the_reference": (lambda: _hostile(
        build.steal_the_reference("01_mnist_cam"),
        "prediction = int(np.argmax(results[image_index]))\n"
        "if 'show_cam_reference' in reference_namespace:\n"
        "    cam_output = reference_namespace['show_cam_reference'](image_index, features, results, gap_weights)\n"
        "else:\n"
        "    from grader.reference import show_cam_reference\n"
        "    cam_output = show_cam_reference(image_index, features, results, gap_weights)"),
        0, "graded", "failed"),
}


NETWORK_PROBE = """
# Hostile: send what the kernel can read to {where}.
import socket
try:
    with socket.create_connection({target}, timeout=10) as connection:
        connection.sendall(b"the reference answers")
    print("NETWORK: sent")
except OSError as error:
    print(f"NETWORK: {{type(error).__name__}}: {{error}}")
"""


def sends_to_the_host(port):
    """A correct answer whose notebook also tries to send data to a listener on the grading
    machine's 127.0.0.1:``port`` (full marks; the sandbox's loopback is its own)."""
    return _hostile(NETWORK_PROBE.format(where=f"a listener on the grading machine, port {port}",
                                         target=f'("127.0.0.1", {port})'), BODIES["correct_einsum"])


def calls_home():
    """A correct answer whose notebook also resolves a host name and connects out (full marks; no network)."""
    return _hostile(NETWORK_PROBE.format(where="a server on the internet",
                                         target='(socket.gethostbyname("pypi.org"), 443)'), BODIES["correct_einsum"])


def writes_everywhere(canaries):
    """A correct answer whose notebook also tries to overwrite ``canaries`` (full marks, files intact)."""
    return _hostile(build.write_everywhere(canaries), BODIES["correct_einsum"])
