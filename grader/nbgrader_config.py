# nbgrader configuration of the course; the grader copies it into its working
# directory (build/course by default) and appends CourseDirectory.root.
c = get_config()  # noqa: F821  (defined by nbgrader when it loads this file)

c.CourseDirectory.course_id = "seeing-inside-cnns"
# Test cells a student edited are restored from the source; deleted ones are added back.
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Notebooks are run with the course's Python (the kernel "python3" of this environment; autograde names
# each notebook's kernel, sandboxed or not, in its request). A cell past Execute.timeout seconds (autograde
# writes --cell-timeout into each notebook's private copy of this file: grader.course.write_config) is
# interrupted, marked in its output, and the notebook goes on with the next cell; a kernel that ignores the
# interrupt runs into the notebook's limit (--timeout). The kernel is killed after the last cell rather than
# asked to exit (TensorFlow takes seconds to).
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.shutdown_kernel = "immediate"
c.LimitOutput.max_lines = 1000
# (Each cell also keeps at most 2 MB of output: grader/pipeline/output_limit.py, in GraderExecute.) Widgets'
# state is not kept in the autograded notebook: it is output no limit counts, and the feedback shows no widgets.
c.Execute.store_widget_state = False
c.ClearOutput.enabled = True
# Feedback shows each test's points and its failure message, not the hidden tests' code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# The page's template, grader/templates/feedback: nbgrader's, with each test named and described by its
# docstring in the summary, and long lines (a test's failure message) wrapped. It has the name of
# nbgrader's ("feedback": nbgrader's API sets that name) and is found first.
import os as _os  # noqa: E402

import nbgrader as _nbgrader  # noqa: E402

import grader as _grader  # noqa: E402

c.HTMLExporter.template_name = "feedback"
c.HTMLExporter.extra_template_basedirs = [
    _os.path.join(_os.path.dirname(_grader.__file__), "templates"),
    _os.path.join(_os.path.dirname(_nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]
# A submission's HTML, JavaScript, SVG and markdown outputs and its own markdown cells reach the
# page as text (grader/pipeline/feedback.py, prepare_for_feedback); nbconvert's sanitizer is a second guard.
c.HTMLExporter.sanitize_html = True
# The grader's preprocessors (grader/pipeline/preprocessors.py), ahead of nbgrader's own: in the sanitize
# step, the cells after the last graded test dropped and the independent check's capture cell added (both
# off unless the grader turns them on for a notebook); in the autograde step, nbgrader's Execute with the
# grader's nbclient hooks (the phases' seconds, a cell past its time limit marked, each cell's output bounded).
c.Autograde.sanitize_preprocessors = [
    "grader.pipeline.preprocessors.DropCellsAfterLastTest",
    "grader.pipeline.preprocessors.AddCaptureCell",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "grader.pipeline.preprocessors.GraderExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
