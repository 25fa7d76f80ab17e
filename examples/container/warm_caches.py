"""Fill the course cache while the image is built, offline, so that the container grades from its
first notebook without converting or training anything: EfficientNet-Lite0's converted weights
(lessons 02, 03, 05, 06 and 03's independent check), then the recorded reference answers of every
graded notebook (``grader.pipeline.isolation.reference_table``: it runs each graded solution notebook once,
and 01's run trains the network every grading kernel then loads, ``helpers.training.fit_cached``).

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
from grader.pipeline import isolation  # noqa: E402
from helpers._cache import cache_dir  # noqa: E402
from helpers.models import imagenet_classifier  # noqa: E402
from grader.course import graded_assignments  # noqa: E402


def main():
    started = time.monotonic()
    imagenet_classifier()
    print(f"weights ready in {time.monotonic() - started:.0f} s", flush=True)
    # Twice: a recording may add a file to the cache (05's tests load the GAP-CNN of 04-06, trained on
    # first use), which changes the key of every table recorded before it; the second pass records
    # those again and finds the others in place.
    for _ in range(2):
        for assignment in graded_assignments():
            begun = time.monotonic()
            table = isolation.reference_table(assignment)
            print(f"{assignment}: {table.name} in {time.monotonic() - begun:.0f} s", flush=True)
    for path in sorted(cache_dir().rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(cache_dir())}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
