# nbgrader configuration of the course; the grader copies it into its working
# directory (build/course by default) and appends CourseDirectory.root.
c = get_config()  # noqa: F821  (defined by nbgrader when it loads this file)

c.CourseDirectory.course_id = "seeing-inside-cnns"
# Test cells a student edited are restored from the source; deleted ones are added back.
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Notebooks are run with the course's Python (the kernel "python3" of this environment).
c.Execute.timeout = 600
# A cell past the limit fails the whole notebook (it scores 0), it is not skipped.
c.Execute.interrupt_on_timeout = False
c.LimitOutput.max_lines = 1000
# (Each cell also keeps at most 2 MB of output: grader/output_limit.py, in the worker.) Widgets' state is not
# kept in the autograded notebook: it is output no limit counts, and the feedback shows no widgets.
c.Execute.store_widget_state = False
c.ClearOutput.enabled = True
# Feedback shows each test's points and its failure message, not the hidden tests' code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# A submission's HTML, JavaScript, SVG and markdown outputs and its own markdown cells reach the
# page as text (grader/feedback.py, prepare_for_feedback); nbconvert's sanitizer is a second guard.
c.HTMLExporter.sanitize_html = True
