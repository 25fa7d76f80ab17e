"""Fill the course cache while the image is built, offline, so that the container grades from its
first notebook without converting or training anything: EfficientNet-Lite0's converted weights
(lessons 02, 03, 05, 06 and 03's independent check) and the GAP-CNN of lessons 04-06
(``helpers.models.trained_gap_cnn``), then the recorded reference answers of every graded notebook
(``grader.pipeline.isolation.reference_table``: it runs each graded solution notebook once, and 01's run
trains the network every grading kernel of 01 then loads, ``helpers.training.fit_cached``).

Run from the repository's root: ``python examples/container/warm_caches.py``. The same calls fill
the cache on first use anywhere else; here they only happen before the first submission instead.
The tables' key counts the cache's files by their time in whole seconds (``grader/pipeline/isolation.py``),
which an image layer keeps, so the container finds them.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import helpers.quiet  # noqa: E402,F401  (TensorFlow's start-up lines kept off the build log)
from grader.course import graded_assignments  # noqa: E402
from grader.pipeline import isolation  # noqa: E402
from helpers._cache import cache_dir  # noqa: E402
from helpers.models import imagenet_classifier, trained_gap_cnn  # noqa: E402


def main():
    started = time.monotonic()
    imagenet_classifier()
    # Before any table: a table's key counts the cache's model files, so a recording that trained
    # this network (04's and 05's solutions load it) would change the key of every table before it.
    trained_gap_cnn(verbose=False)
    print(f"weights ready in {time.monotonic() - started:.0f} s", flush=True)
    tables = {}
    for assignment in graded_assignments():
        begun = time.monotonic()
        tables[assignment] = isolation.reference_table(assignment)
        print(f"{assignment}: {tables[assignment].name} in {time.monotonic() - begun:.0f} s", flush=True)
    # A safety net that costs nothing when the cache was complete: a table whose key changed after it
    # was recorded is recorded again here, and said.
    for assignment, table in tables.items():
        if isolation.reference_table(assignment) != table:
            print(f"{assignment}: recorded again (a later recording changed the cache)", flush=True)
    for path in sorted(cache_dir().rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(cache_dir())}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
