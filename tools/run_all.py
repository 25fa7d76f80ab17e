"""``make run``: execute every solution notebook into build/ (.ipynb and HTML), then grade
the bundled sample submissions and print the grade table.

The HTML renders its formulas offline: nbconvert's default loads MathJax from a CDN, so each
HTML folder gets a copy of the MathJax 2.7 that the ``jupyter-server-mathjax`` package installs
(``mathjax/``, 12 MB, BSD-3-Clause) and the pages load it by a relative URL: the folder can be
opened, copied or zipped without a network.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from grader.course import NOTEBOOKS_DIR, QUIET_KERNEL, REPO_ROOT, SOLUTIONS_DIR, graded_assignments
from grader.pipeline.autograde import autograde


def execute_notebook(source, executed_dir, timeout_seconds=900):
    """Execute ``source`` in its own folder; write the executed notebook and its HTML."""
    notebook = nbformat.read(str(source), as_version=4)
    client = NotebookClient(notebook, timeout=timeout_seconds, kernel_name="python3",
                            extra_arguments=QUIET_KERNEL, resources={"metadata": {"path": str(source.parent)}})
    client.execute()
    executed_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(executed_dir / source.name))
    write_html(notebook, executed_dir / f"{source.stem}.html")


MATHJAX_FOLDER = "mathjax"   # beside the HTML files
# MathJax 2.7's combined configuration shipped by jupyter-server-mathjax (nbconvert's default,
# TeX-AMS_CHTML-full, is not in that package), with the Safe extension nbconvert's default also
# loads, and local/course.js: the package ships only the STIX-Web fonts, so use them (MathJax's
# default, the TeX fonts, is not there: the browser asked for a missing fontdata.js first).
MATHJAX_URL = f"{MATHJAX_FOLDER}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/course"
FONT_CONFIG = """MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web",
                                   webFont: "STIX-Web", imageFont: null}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/course.js");
"""


def write_html(notebook, html_path):
    """Write ``notebook`` as HTML at ``html_path``, with MathJax copied beside it (once per folder)."""
    html_path = Path(html_path)
    mathjax_copy = html_path.parent / MATHJAX_FOLDER
    if not (mathjax_copy / "MathJax.js").is_file():
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", mathjax_copy, dirs_exist_ok=True)
        (mathjax_copy / "config" / "local").mkdir(exist_ok=True)
        (mathjax_copy / "config" / "local" / "course.js").write_text(FONT_CONFIG, encoding="utf-8")
    body, _ = HTMLExporter(mathjax_url=MATHJAX_URL).from_notebook_node(notebook)
    html_path.write_text(body, encoding="utf-8")


def sample_submissions(folder):
    """Build the sample class: the reference solution and the untouched student notebook of
    every graded notebook."""
    if folder.exists():
        shutil.rmtree(folder)
    for student_id, source_dir in (("reference", SOLUTIONS_DIR), ("untouched", NOTEBOOKS_DIR)):
        (folder / student_id).mkdir(parents=True)
        for name in graded_assignments():
            shutil.copyfile(source_dir / f"{name}.ipynb", folder / student_id / f"{name}.ipynb")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    arguments = parser.parse_args(argv)
    build_dir = arguments.build_dir.resolve()
    for source in sorted(SOLUTIONS_DIR.glob("*.ipynb")):
        started = time.monotonic()
        execute_notebook(source, build_dir / "executed")
        print(f"executed {source.name} in {time.monotonic() - started:.0f} s -> {build_dir / 'executed'}")
    submissions = sample_submissions(build_dir / "sample_submissions")
    return autograde(submissions, build_dir / "course", jobs=2, fresh=True)


if __name__ == "__main__":
    sys.exit(main())
