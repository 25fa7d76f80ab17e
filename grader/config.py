"""The settings of one grading run: its limits and its options, in one frozen object.

``python -m grader autograde`` builds a :class:`GradingConfig` once from its command line;
:func:`grader.pipeline.autograde.autograde` builds one from its keyword options. It is
validated when it is made (a :class:`grader.errors.UsageError` names what is out of range) and
cannot change afterwards. :meth:`GradingConfig.key` is the part of a saved result's key that
the settings decide (:func:`grader.pipeline.results.result_key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

CELL_TIMEOUT_SHARE = 1 / 3   # --cell-timeout's default: a third of --timeout
GIB = 2**30


def check_shard(shard: tuple[int, int]) -> None:
    """Raise :class:`UsageError` unless ``shard`` is ``(k, n)`` with ``0 <= k < n``."""
    k, n = shard
    if not (n >= 1 and 0 <= k < n):
        raise UsageError(f"--shard K/N needs 0 <= K < N, got {k}/{n}")


@dataclass(frozen=True)
class GradingConfig:
    """Limits and run options of ``autograde`` (README, "Grading"; ``python -m grader autograde --help``).

    ``cell_timeout_seconds`` left at None becomes a third of ``timeout_seconds`` (at least 1 s).
    ``progress``: True for a bar, False for a line per notebook, None to choose by the terminal.
    ``lms``: "canvas", "moodle", "folders", or None to detect. ``shard``: ``(k, n)`` or None.
    """

    timeout_seconds: float = 600.0
    cell_timeout_seconds: float | None = None
    memory_limit_gib: float = 8.0
    disk_limit_gib: float = 1.0
    max_processes: int = 256
    max_files: int = 100_000
    jobs: int = 1
    isolate: str = "auto"   # auto | on | off
    shard: tuple[int, int] | None = None
    progress: bool | None = None
    lms: str | None = None
    worksheet: Path | None = None
    groups: Path | None = None
    students: tuple[str, ...] = ()
    drop_missing: bool = False
    fresh: bool = False

    def __post_init__(self) -> None:
        if self.cell_timeout_seconds is None:
            object.__setattr__(self, "cell_timeout_seconds",
                               max(1.0, round(self.timeout_seconds * CELL_TIMEOUT_SHARE)))
        object.__setattr__(self, "students", tuple(self.students))
        if self.lms == "auto":
            object.__setattr__(self, "lms", None)
        if min(self.timeout_seconds, self.cell_timeout_seconds, self.memory_limit_gib, self.disk_limit_gib) <= 0 \
                or self.jobs < 1 or self.max_processes < 16 or self.max_files < 100:
            raise UsageError("--timeout, --cell-timeout, --memory-limit and --disk-limit must be positive, --jobs at "
                             "least 1, --max-processes at least 16 and --max-files at least 100")
        if self.shard is not None:
            check_shard(self.shard)

    @property
    def memory_limit_bytes(self) -> int:
        return int(self.memory_limit_gib * GIB)

    @property
    def disk_limit_bytes(self) -> int:
        return int(self.disk_limit_gib * GIB)

    def kernel_limits(self) -> dict[str, int]:
        """What one kernel may use (:mod:`grader.pipeline.isolation`, :mod:`grader.sandbox.zygote`)."""
        return {"disk_bytes": self.disk_limit_bytes, "processes": int(self.max_processes),
                "files": int(self.max_files)}

    def key(self) -> str:
        """The settings a saved result depends on, as text (part of its key): the notebook's and one
        cell's time limits and the kernel's limits. The text is the one the grader has always
        written (``600.0|8589934592|200|1073741824|256|100000`` by default), so results saved by
        earlier versions are reused."""
        limits = (self.timeout_seconds, self.memory_limit_bytes, self.cell_timeout_seconds, self.disk_limit_bytes,
                  int(self.max_processes), int(self.max_files))
        return "|".join(map(str, limits))
