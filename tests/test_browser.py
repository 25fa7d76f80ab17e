"""A student's session in a real browser: the student bundle's own environment, JupyterLab, Chromium.

The student bundle (``python -m grader bundle``) is unzipped and installed as its README says
(``python3 -m venv .venv`` and ``pip install .``, from the package index, no packages of this
repository's venv). That environment is cached under ``build/student-env/<key>``, the key being
a hash of the bundle's ``pyproject.toml``, its Jupyter settings and the install command, so a
change of any reinstalls it (a first install takes a few minutes). JupyterLab is started from it
on a free localhost port with a token, and Debian's Chromium (``/usr/bin/chromium``; Playwright cannot download its own
browser here) is driven by Playwright: open ``notebooks/01_mnist_cam.ipynb``, type ``show_cam``
into the exercise cell, Run All, look for the CAM figure and "Self-check passed.", save with
Ctrl+S, and run the environment's ``nbgrader validate`` on the saved file. The second case types
the true-label mistake and must see the self-check and a visible test fail.

The only reason to skip: Chromium is not installed (``.ci/run`` installs Debian's ``chromium``).
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from submissions import cases_04

from grader.course import REPO_ROOT
from grader.student.bundle import bundle

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a machine with no network but the package registries (see .ci/run).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ENV_ROOT = REPO_ROOT / "build" / "student-env"
NOTEBOOK = "notebooks/01_mnist_cam.ipynb"
NOTEBOOK_04 = "notebooks/04_zfnet_unpooling.ipynb"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()\n"
# The bundle README's install command (not editable: only a real install puts the Jupyter settings in place).
INSTALL_COMMAND = ["-m", "pip", "install", "."]
SERVER_START_SECONDS = 120
RUN_ALL_SECONDS = 600

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason=f"Chromium is not installed ({CHROMIUM}); `.ci/run` installs Debian's chromium")


def _environment_key(bundle_dir):
    """What the installed environment depends on: the bundle's pyproject, its Jupyter settings, this Python."""
    digest = hashlib.sha256(sys.version.encode() + " ".join(INSTALL_COMMAND).encode())
    for path in [bundle_dir / "pyproject.toml", *sorted((bundle_dir / "jupyter-config").rglob("*"))]:
        if path.is_file():
            digest.update(str(path.relative_to(bundle_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _base_python():
    """The Python this venv was made from (a student's ``python3``), not the venv's own link."""
    return getattr(sys, "_base_executable", None) or sys.executable


def student_environment(work_dir):
    """Unzip a fresh student bundle and return ``(bundle_dir, venv_bin)``, installing the venv if needed.

    The bundle is unzipped to ``build/student-env/<key>/bundle`` (replacing any previous copy, so
    the notebooks are the released ones) and ``pip install .`` is run there, as the bundle's
    README says, only when ``build/student-env/<key>/.venv`` is not installed yet.
    """
    zip_path = Path(work_dir) / "students.zip"
    assert bundle(zip_path) == 0
    unpacked = Path(work_dir) / "unpacked"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unpacked)
    root = ENV_ROOT / _environment_key(unpacked)
    bundle_dir, venv = root / "bundle", root / ".venv"
    if bundle_dir.exists():
        shutil.rmtree(bundle_dir)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(unpacked, bundle_dir)
    marker = venv / ".installed"
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
    if marker.exists():
        # The dependencies are in place; install this bundle's helpers over the previous ones.
        command = [*INSTALL_COMMAND, "--no-deps", "--force-reinstall", "--quiet"]
    else:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
        # --no-compile: the same files, without pip byte-compiling all of TensorFlow first (measured
        # 185 s with, 81 s without); Python compiles what a student's kernel imports when it imports it.
        command = [*INSTALL_COMMAND, "--quiet", "--no-compile"]
    result = subprocess.run([str(venv / "bin" / "python"), *command],
                            cwd=bundle_dir, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, f"pip install . of the student bundle failed:\n{result.stderr[-3000:]}"
    marker.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return bundle_dir, venv / "bin"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _student_process_environment(bundle_dir, private_dir):
    """A student's shell: the bundle's venv first on PATH, nothing of this repository, private Jupyter dirs."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL")
                   and not name.startswith("JUPYTER")}
    venv_bin = bundle_dir.parent / ".venv" / "bin"
    environment["PATH"] = str(venv_bin) + os.pathsep + environment.get("PATH", "")
    environment["COURSE_OFFLINE"] = "1"
    for variable, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                             ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                             ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("IPYTHONDIR", "ipython")):
        (private_dir / folder).mkdir(parents=True, exist_ok=True)
        environment[variable] = str(private_dir / folder)
    # Every cell in the page (no virtual scrolling), no news pop-up.
    settings = private_dir / "settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return environment


class JupyterLab:
    """``jupyter lab`` of the student environment, on a free port, until :meth:`stop`."""

    def __init__(self, bundle_dir, private_dir):
        self.bundle_dir = bundle_dir
        self.environment = _student_process_environment(bundle_dir, private_dir)
        self.port, self.token = _free_port(), hashlib.sha256(os.urandom(16)).hexdigest()[:32]
        self.log_path = private_dir / "jupyterlab.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [str(bundle_dir.parent / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}", "--ServerApp.port_retries=0",
             *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI containers run as root
            cwd=bundle_dir, env=self.environment, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                self.api("status")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"JupyterLab did not start:\n{self.log_path.read_text()[-3000:]}")
                time.sleep(0.5)

    def url(self, path):
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{separator}token={self.token}"

    def api(self, path, method="GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def status_of(self, path):
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def shut_down_kernels(self):
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    started = time.monotonic()
    bundle_dir, venv_bin = student_environment(tmp_path_factory.mktemp("bundle"))
    print(f"student environment ready in {time.monotonic() - started:.0f} s: {venv_bin.parent}")
    server = JupyterLab(bundle_dir, tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def solution_body():
    """The body of the reference ``show_cam``, as a student would type it in place of the stub."""
    source = json.loads((REPO_ROOT / "solutions" / "01_mnist_cam.ipynb").read_text())
    cell = next("".join(cell["source"]) for cell in source["cells"]
                if "def show_cam(" in "".join(cell["source"]) and "### BEGIN SOLUTION" in "".join(cell["source"]))
    body = cell.split("### BEGIN SOLUTION\n", 1)[1].split("    ### END SOLUTION\n", 1)[0]
    assert "np.argmax(results[image_index])" in body, body
    return body


def stub_cell(bundle_dir, notebook=NOTEBOOK, start="def show_cam(image_index):"):
    """The student notebook's exercise cell that begins with ``start``."""
    cells = json.loads((bundle_dir / notebook).read_text())["cells"]
    cell = next("".join(cell["source"]) for cell in cells
                if STUB in "".join(cell["source"]) and "".join(cell["source"]).startswith(start))
    return cell


def restore_notebook(lab, notebook=NOTEBOOK):
    """Put the released student notebook back (a previous case saved over it)."""
    path = lab.bundle_dir / notebook
    original = lab.bundle_dir.parent / f"original_{path.name}"
    if not original.exists():
        shutil.copy(path, original)
    shutil.copy(original, path)


def run_in_jupyterlab(lab, browser, cell_text, notebook=NOTEBOOK, typed=(("def show_cam(image_index)", "np.dot("),)):
    """Open ``notebook`` in JupyterLab, type an answer into its exercise cells, Run All, save.

    ``cell_text``: the new text of each exercise cell, in the order of ``typed``, whose pairs are
    (text that finds the cell, text the typed cell must show). One string for one cell.
    Returns ``(page, seconds)``; the page is left open on the executed notebook.
    """
    texts = [cell_text] if isinstance(cell_text, str) else list(cell_text)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(lab.url(f"lab/tree/{notebook}?reset"))
    # The notebook is open and its kernel started.
    page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=typed[0][0]).first.wait_for()
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=120_000)
    for text, (finds_the_cell, shown) in zip(texts, typed, strict=True):
        exercise = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=finds_the_cell).first
        assert "raise NotImplementedError()" in exercise.inner_text()
        # Type the answer: select the cell's text and put ours in its place.
        exercise.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(text)
        page.keyboard.press("Escape")
        on_screen = exercise.locator(".cm-content").inner_text()
        assert "raise NotImplementedError()" not in on_screen and shown in on_screen, on_screen

    started = time.monotonic()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=False).first.click()
    # Run All has started when a prompt shows [*]; it has finished when none does and the kernel is idle.
    page.locator(".jp-InputPrompt", has_text="[*]").first.wait_for(timeout=60_000)
    deadline = time.monotonic() + RUN_ALL_SECONDS
    while page.locator(".jp-InputPrompt", has_text="[*]").count() or page.locator(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']").count() == 0:
        assert time.monotonic() < deadline, f"Run All did not finish in {RUN_ALL_SECONDS} s"
        page.wait_for_timeout(500)
    seconds = time.monotonic() - started

    notebook_path = lab.bundle_dir / notebook
    before = notebook_path.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+S")
    deadline = time.monotonic() + 30
    while notebook_path.stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, "Ctrl+S did not save the notebook"
        time.sleep(0.2)
    time.sleep(0.5)  # let the write finish
    return page, seconds


def nbgrader_validate(lab, notebook=NOTEBOOK):
    """The student environment's ``nbgrader validate`` on the saved notebook: ``(returncode, output)``."""
    result = subprocess.run([str(lab.bundle_dir.parent / ".venv" / "bin" / "nbgrader"), "validate", notebook],
                            cwd=lab.bundle_dir, env=lab.environment, capture_output=True, text=True, timeout=900)
    return result.returncode, result.stdout + result.stderr


def saved_cell_sources(lab, notebook=NOTEBOOK):
    notebook = json.loads((lab.bundle_dir / notebook).read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"]]


def output_lines(cell):
    """The lines a cell printed (a traceback also quotes the source, which is not what it printed)."""
    return [line.strip() for line in cell.locator(".jp-OutputArea").inner_text().splitlines()]


def cell_with(page, text):
    return page.locator(".jp-Notebook .jp-Cell").filter(has_text=text).first


def test_the_student_environment_is_installed_from_the_bundle_alone(lab):
    """The venv has the bundle's requirements and its Jupyter settings, and nothing of this repository."""
    venv_python = lab.bundle_dir.parent / ".venv" / "bin" / "python"
    check = subprocess.run([str(venv_python), "-m", "pip", "check"], capture_output=True, text=True,
                           env=lab.environment)
    assert check.returncode == 0, check.stdout + check.stderr
    probe = subprocess.run(
        [str(venv_python), "-c", "import importlib.util, helpers, sys; print(helpers.__file__); "
         "print(importlib.util.find_spec('grader')); print(sys.prefix)"],
        cwd=lab.bundle_dir / "notebooks", capture_output=True, text=True, env=lab.environment)
    helpers_file, grader_spec, prefix = probe.stdout.split()
    assert Path(helpers_file).is_relative_to(lab.bundle_dir.parent / ".venv"), helpers_file
    assert grader_spec == "None", "the student environment can import the instructor's grader"
    labconfig = json.loads((Path(prefix) / "etc/jupyter/labconfig/page_config.json").read_text())
    assert labconfig["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True
    assert (Path(prefix) / "etc/jupyter/nbgrader_config.py").is_file()


def test_a_correct_show_cam_typed_in_jupyterlab_passes(lab, browser):
    restore_notebook(lab)
    cell_text = stub_cell(lab.bundle_dir).replace(STUB, solution_body())
    assert cell_text.startswith("def show_cam(image_index):") and STUB not in cell_text
    page, seconds = run_in_jupyterlab(lab, browser, cell_text)
    print(f"01, correct show_cam: Run All took {seconds:.1f} s")
    try:
        # A student's JupyterLab: the Validate button, none of the instructor's nbgrader tools.
        assert page.locator(".jp-Notebook-toolbar, .jp-NotebookPanel-toolbar").get_by_text("Validate").count() >= 1
        menu_bar = page.locator("#jp-menu-panel, .jp-MainMenu, #jp-MainMenu").first.inner_text()
        assert "Nbgrader" not in menu_bar, menu_bar
        body = page.locator("body").inner_text()
        for instructor_tool in ("Formgrader", "Course List", "Create Assignment", "Assignment List",
                                "Error fetching courses"):
            assert instructor_tool not in body, instructor_tool
        # Nor JupyterLab's news prompt, which sat over the outputs (the bundle's overrides.json; the
        # page has been open for the whole Run All, long after the prompt would have come up).
        assert "official Jupyter news" not in body
        assert lab.status_of("formgrader") == 404 and lab.status_of("courses") == 404
        assert lab.status_of("assignments") == 404
        # Nor in the command palette: nbgrader's commands are gone (Validate is a toolbar button).
        page.keyboard.press("Control+Shift+C")
        page.keyboard.insert_text("nbgrader")
        page.get_by_text("No commands found that match 'nbgrader'").wait_for(timeout=10_000)
        page.keyboard.press("Escape")
        assert "No nbgrader_config.py file found" not in lab.log_path.read_text()

        self_check = cell_with(page, "cam = show_cam(0)")
        assert self_check.locator(".jp-OutputArea-output img").count() >= 1, "no CAM figure under the self-check"
        image = self_check.locator(".jp-OutputArea-output img").first
        assert image.evaluate("img => img.naturalWidth") > 100
        assert "Self-check passed." in output_lines(self_check)
        # Run All stops at the first error: the only one allowed is the stub of the ungraded exercise further on.
        stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [text for text in stderr.all_inner_texts() if "Traceback" in text]
        assert all("NotImplementedError" in text and "cams_for_every_class" in text for text in tracebacks), tracebacks
        print(f"{stderr.count() - len(tracebacks)} stderr block(s) besides that:",
              *[text[:200] for text in stderr.all_inner_texts() if "Traceback" not in text], sep="\n")
    finally:
        page.close()
        lab.shut_down_kernels()
    assert cell_text in saved_cell_sources(lab), "the saved notebook does not hold the typed show_cam"

    returncode, output = nbgrader_validate(lab)
    assert "Success! Your notebook passes all the tests." in output, output[-3000:]
    assert "No nbgrader_config.py file found" not in output, output[-3000:]
    assert "without encryption" not in output, output[-3000:]   # the kernel's start-up warning (ipykernel 7)
    assert returncode == 0


def test_the_true_label_mistake_fails_the_self_check_and_a_visible_test(lab, browser):
    restore_notebook(lab)
    body = solution_body().replace("np.argmax(results[image_index])", "y_test[image_index]")
    cell_text = stub_cell(lab.bundle_dir).replace(STUB, body)
    page, seconds = run_in_jupyterlab(lab, browser, cell_text)
    print(f"01, true-label show_cam: Run All took {seconds:.1f} s")
    try:
        self_check = cell_with(page, "cam = show_cam(0)")
        text = self_check.locator(".jp-OutputArea").inner_text()
        assert "AssertionError" in text and "expected all ones" in text, text[-2000:]
        assert "Self-check passed." not in output_lines(self_check)
    finally:
        page.close()
        lab.shut_down_kernels()
    assert cell_text in saved_cell_sources(lab)

    returncode, output = nbgrader_validate(lab)
    # Only the visible test of the predicted class fails, and it names the mistake
    # (nbgrader shortens the message's line: "... and your map is the CAM of the...").
    assert "VALIDATION FAILED ON 1 CELL(S)!" in output, output[-3000:]
    assert "your map is the CAM of the" in output, output[-3000:]
    assert "No nbgrader_config.py file found" not in output
    # nbgrader validate exits 0 even so: the student README tells students to read its summary.
    assert returncode == 0


def test_lesson_04_typed_in_jupyterlab_runs_on_the_students_unpooling(lab, browser):
    """Lesson 04's exercise typed in JupyterLab: both functions written with loops (tests/submissions/
    cases_04.py's correct_loops). Run All gets past the self-check and the visible tests, and the rest
    of the lesson (the deconvnet) runs on the student's functions to the end without an error;
    nbgrader validate in the student environment says Success."""
    restore_notebook(lab, NOTEBOOK_04)
    texts = []
    for name, body in zip(("max_pool_with_switches", "unpool"), cases_04.CORRECT_BODIES["correct_loops"]):
        indented = "\n".join("    " + line if line else line for line in body.strip("\n").splitlines()) + "\n"
        texts.append(stub_cell(lab.bundle_dir, NOTEBOOK_04, f"def {name}(").replace(STUB, indented))
    page, seconds = run_in_jupyterlab(lab, browser, texts, NOTEBOOK_04,
                                      typed=(("def max_pool_with_switches(", "for column in range(pool_size)"),
                                             ("def unpool(", "divmod(int(switches")))
    print(f"04, unpooling with loops: Run All took {seconds:.1f} s")
    try:
        self_check = cell_with(page, "slide_switches = np.asarray(switches)")
        assert "Self-check passed." in output_lines(self_check), output_lines(self_check)
        stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [text for text in stderr.all_inner_texts() if "Traceback" in text or "Error" in text]
        assert tracebacks == [], tracebacks
        # The last code cell ran: every code cell has an execution count.
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        assert prompts and all(prompt.strip() not in ("[ ]:", "[*]:", "") for prompt in prompts), prompts
    finally:
        page.close()
        lab.shut_down_kernels()
    assert all(text in saved_cell_sources(lab, NOTEBOOK_04) for text in texts)

    returncode, output = nbgrader_validate(lab, NOTEBOOK_04)
    assert "Success! Your notebook passes all the tests." in output, output[-3000:]
    assert returncode == 0


def test_the_class_report_opens_with_its_plot_shown(browser, tmp_path):
    """The class report (grader/pipeline/report.py) of a small class, opened from its file: the histogram
    is a loaded image of its natural size, and the screenshot shows its bars (the bar colour fills
    a share of the image's place; a broken image shows an icon and its alt text)."""
    from io import BytesIO

    import numpy as np
    from PIL import Image

    from grader.pipeline.report import BAR_COLOUR, write_report
    from grader.pipeline.results import Grade

    scores = [5, 5, 5, 3, 3, 1, 0]
    grades = [Grade(f"student{i}", "01_mnist_cam", score=score, max_score=5, seconds=i)
              for i, score in enumerate(scores)]
    path, _ = write_report(tmp_path, grades)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(path.resolve().as_uri())
        image = page.locator("img.histogram")
        size = image.evaluate("image => [image.complete, image.naturalWidth, image.naturalHeight, "
                              "image.getBoundingClientRect().width]")
        shot = Image.open(BytesIO(image.screenshot(path=tmp_path / "histogram.png"))).convert("RGB")
        page.screenshot(path=tmp_path / "report.png", full_page=True)
    finally:
        page.close()
    assert size[0] and size[1] > 100 and size[2] > 100 and size[3] == size[1], size
    bar = np.array([int(BAR_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(shot, dtype=int).reshape(-1, 3)
    share = float(np.mean(np.abs(pixels - bar).max(axis=1) <= 12))
    assert share > 0.05, share


def test_the_html_of_make_run_renders_its_formulas_without_a_network(browser, tmp_path):
    """``make run`` writes each executed lesson as HTML (``tools.run_all.write_html``). Opened from
    its file with every non-file request refused, lesson 01's page typesets its formulas with the
    MathJax copied beside it: no ``$…$`` is left in the text of its markdown cells (code keeps its
    own, e.g. a matplotlib label), there are as many typeset formulas as the markdown has, and
    every file MathJax asks for is there. (With nbconvert's default, MathJax from a CDN, 22 stay raw.)"""
    import re

    import nbformat

    from tools.run_all import MATHJAX_FOLDER, write_html

    notebook = nbformat.read(str(REPO_ROOT / "solutions" / "01_mnist_cam.ipynb"), as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    formulas = len(re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", markdown, flags=re.S))
    html_path = tmp_path / "01_mnist_cam.html"
    write_html(notebook, html_path)
    assert (tmp_path / MATHJAX_FOLDER / "MathJax.js").is_file()

    refused, missing = [], []
    page = browser.new_page()
    try:
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else (refused.append(route.request.url), route.abort()))
        page.on("requestfailed", lambda request: missing.append(request.url) if request.url.startswith("file:")
                else None)
        page.goto(html_path.as_uri())
        page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                               "&& document.querySelectorAll('.MathJax, .MathJax_Display').length > 0",
                               timeout=60_000)
        version = page.evaluate("() => MathJax.version")
        typeset = page.locator("span.MathJax").count()
        text = "\n".join(page.locator(".jp-RenderedMarkdown").all_inner_texts())
    finally:
        page.close()
    raw = re.findall(r"\$[^$\n]+\$", text)
    assert "Class Activation Map" in text, text[:500]   # the markdown cells were found
    assert formulas > 10, formulas
    assert version.startswith("2.7"), version
    assert raw == [], raw[:5]
    assert typeset >= formulas, (typeset, formulas)
    assert not any("mathjax" in url.lower() for url in refused), refused
    assert missing == [], missing
