"""What the grader says while it works: a progress bar on a terminal (done/total, notebooks that
could not be graded so far, an ETA), else one plain line per notebook."""

from __future__ import annotations

import sys

from grader.pipeline.results import Grade

FAILED = ("error", "timeout", "memory", "invalid")


class Progress:
    """``update(grade)`` after each notebook; ``close()`` at the end. ``bar``: True, False or None
    (a bar when stdout is a terminal)."""

    def __init__(self, total: int, bar: bool | None = None) -> None:
        self.total, self.done, self.failures = total, 0, 0
        self.bar = None
        if bar or (bar is None and sys.stdout.isatty()):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="notebook", dynamic_ncols=True, file=sys.stdout)
            self.bar.set_postfix(failures=0)

    def update(self, grade: Grade) -> None:
        self.done += 1
        self.failures += grade.status in FAILED
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failures=self.failures)   # redraws: a notebook takes seconds, not microseconds
        elif not grade.reused:
            print(f"[{self.done}/{self.total}] graded {grade.student_id}/{grade.notebook}: "
                  f"{grade.score:g}/{grade.max_score:g} ({grade.status}, {grade.seconds:g} s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
