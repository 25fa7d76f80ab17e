"""What students receive and run: the student notebooks generated from the solutions
(:mod:`grader.student.release`), the zip they download (:mod:`grader.student.bundle`), and the
visible tests run as a student would (:mod:`grader.student.validate`)."""
