"""Synthetic LMS downloads: a zip whose members the tests name by hand, as Canvas or Moodle would."""

import json
import zipfile

# A PDF's first bytes: what a student hands in with a notebook by mistake.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def write_zip(path, members):
    """Write ``path`` with ``members``: ``(name, content)`` or ``(name, content, (Y, M, D, h, m, s))``.

    ``content`` is a notebook (a dict), text or bytes; without a time a member gets 2026-03-01 12:00.
    Names are stored as UTF-8 (with the zip's UTF-8 flag, as both platforms write them).
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name, content, *when in members:
            info = zipfile.ZipInfo(name, date_time=when[0] if when else (2026, 3, 1, 12, 0, 0))
            if isinstance(content, dict):
                content = json.dumps(content)
            archive.writestr(info, content.encode() if isinstance(content, str) else content)
    return path


def without_nbgrader_metadata(notebook):
    """``notebook`` as a tool that drops cell metadata leaves it: only its title says which one it is."""
    for cell in notebook["cells"]:
        cell["metadata"] = {}
    return notebook
