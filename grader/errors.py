"""The grader's own exceptions, and the exit codes ``python -m grader`` maps them to (only there).

A command either does its job and returns its verdict (:data:`DONE`, or :data:`INCOMPLETE` when
it ran but found something left to do: a stale release, a notebook whose visible tests fail,
shards still missing, a machine that cannot build the sandbox), or it cannot do its job and
raises a :class:`GraderError` whose message is the one line the user reads. ``__main__`` prints
that line on stderr as ``error: ...`` and exits with :data:`CANNOT`.
"""

DONE = 0         # the command did what it was asked
INCOMPLETE = 1   # it ran; the verdict is "not yet" (see the module's docstring)
CANNOT = 2       # misuse, or an input it cannot read: a GraderError


class GraderError(Exception):
    """The grader cannot do what it was asked; ``str(error)`` says why in one line."""

    exit_code = CANNOT


class UsageError(GraderError):
    """The command line asks for something impossible (a limit out of range, a shard K/N with K >= N)."""


class InputError(GraderError):
    """A file or folder the grader was given cannot be read as what it should be."""
