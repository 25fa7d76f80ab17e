"""Read back what a class report (grader/pipeline/report.py) shows: its tables and its images."""

from html.parser import HTMLParser


class ReportReader(HTMLParser):
    """``tables``: ``{id: [[cell text, ...], ...]}`` (the body rows; an empty section's ``<p id>``
    gives ``[]``); ``images``: each ``<img>``'s attributes."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self._table, self._row, self._cell, self._in_body = {}, [], None, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" or (tag == "p" and attrs.get("class") == "empty" and "id" in attrs):
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_report(page):
    """``(tables, images)`` of the report's HTML text ``page`` (see :class:`ReportReader`)."""
    reader = ReportReader()
    reader.feed(page)
    return reader.tables, reader.images
