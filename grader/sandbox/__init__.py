"""Where a student's code runs: the kernel sandbox and the processes around it.

:mod:`grader.sandbox.namespaces` builds the mount and user namespaces, :mod:`grader.sandbox.zygote`
forks kernels from a preloaded process (forgetting every ``grader`` module),
:mod:`grader.sandbox.kernel_client` (standard library only) stands in for the kernel nbgrader starts,
:mod:`grader.sandbox.replay` (standard library and numpy only) is copied into the sandbox to replay
the recorded reference answers, :mod:`grader.sandbox.processes` bounds memory and processes, and
:mod:`grader.sandbox.doctor` says whether this machine can build the sandbox. :mod:`grader.sandbox.libc`
owns the C library's calls and constants they use.
"""
