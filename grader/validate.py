"""``python -m grader validate NOTEBOOK``: a student's self-check before handing in."""

import os
from pathlib import Path

from grader.course import nbgrader_environment


def validate(notebook_path):
    """Run the notebook and its visible tests with nbgrader's Validator.

    Prints what failed and returns 1 when a test cell fails or a locked cell was changed,
    0 when every visible test passes, 2 when the file is missing.
    """
    path = Path(notebook_path)
    if not path.is_file():
        print(f"error: {path} does not exist")
        return 2
    os.environ["PATH"] = nbgrader_environment()["PATH"]
    from nbgrader.validator import Validator

    results = Validator().validate(str(path.resolve()))
    problems = 0
    for kind, label in (("type_changed", "a cell changed type"), ("changed", "a read-only test cell was changed"),
                        ("failed", "a test failed")):
        for cell in results.get(kind, []):
            problems += 1
            print(f"{label}:\n{cell.get('source', '')[:400]}")
            if cell.get("raw_error"):
                print(cell["raw_error"][-800:])
            print()
    if problems:
        print(f"{path.name}: {problems} problem(s); fix them before you hand in.")
        return 1
    print(f"{path.name}: every visible test passes.")
    return 0
