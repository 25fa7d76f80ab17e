"""What goes back out: the grades as a file Canvas or Moodle imports (:mod:`grader.export.grades`,
:mod:`grader.export.canvas`), and the feedback pages in the layout each platform takes back
(:mod:`grader.export.feedback_files`)."""
