"""Fill the course cache while the image is built, offline, so that the container grades from its
first notebook without converting or training anything: EfficientNet-Lite0's converted weights
(lessons 02, 03, 05, 06 and 03's independent check), then the recorded reference answers of every
graded notebook (``grader.isolation.reference_table``: it runs each graded solution notebook once,
and 01's run trains the network every grading kernel then loads, ``helpers.training.fit_cached``).

Run from the repository's root: ``python examples/container/warm_caches.py``. The same calls fill
the cache on first use anywhere else; here they only happen before the first submission instead.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import helpers.quiet  # noqa: E402,F401  (TensorFlow's start-up lines kept off the build log)
from grader import isolation  # noqa: E402
from helpers._cache import cache_dir  # noqa: E402
from helpers.models import imagenet_classifier  # noqa: E402
from grader.course import SOLUTIONS_DIR, assignment_names  # noqa: E402


def graded_assignments():
    """The notebooks with graded test cells (tools.run_all's list, without make run's imports)."""
    import nbformat

    def has_grades(name):
        notebook = nbformat.read(str(SOLUTIONS_DIR / f"{name}.ipynb"), as_version=4)
        return any(cell.metadata.get("nbgrader", {}).get("grade") for cell in notebook.cells)

    return [name for name in assignment_names() if has_grades(name)]


def whole_seconds(tables):
    """Round the cache's timestamps down to whole seconds, and file each table under its key again.

    A table's key (``isolation._table_key``) includes each model file's mtime in nanoseconds, and an
    image layer keeps whole seconds only (Podman's layers do): without this the container would
    find no table under the key it computes and record every table again before its first
    notebook. The recorded answers do not depend on timestamps, so the same table is filed under
    the new key; the last loop checks that nothing is left to record.
    """
    import shutil

    for path in cache_dir().rglob("*"):
        if path.is_file():
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns // 10**9 * 10**9, stat.st_mtime_ns // 10**9 * 10**9))
    for assignment, table in tables.items():
        key = isolation._table_key(assignment)
        again = table.with_name(f"{assignment}-{key}.json")
        if again != table:
            shutil.copyfile(table, again)
            table.unlink()
    for assignment in tables:
        path = isolation.reference_table(assignment)   # prints "recording ..." if anything changed
        assert path.exists(), path


def main():
    started = time.monotonic()
    imagenet_classifier()
    print(f"weights ready in {time.monotonic() - started:.0f} s", flush=True)
    tables = {}
    for assignment in graded_assignments():
        begun = time.monotonic()
        tables[assignment] = isolation.reference_table(assignment)
        print(f"{assignment}: {tables[assignment].name} in {time.monotonic() - begun:.0f} s", flush=True)
    whole_seconds(tables)
    for path in sorted(cache_dir().rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(cache_dir())}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
