"""Files sent as they are written: CSV exports, for the API and the pages alike."""

from __future__ import annotations

from collections.abc import Iterator

from flask import stream_with_context
from werkzeug.wrappers import Response


def csv_attachment(chunks: Iterator[str], filename: str) -> Response:
    """``chunks`` streamed as a CSV download named ``filename`` (ASCII, no quotes).

    Flask ends the request's context when the view returns (its database session with it) and
    pushes it again while the chunks are made, so the rows are read on a session and in a
    transaction of their own, after the view's access check. A client that goes away closes
    the chunks, and with them the rows' cursor. Never cached: it holds names and addresses.
    """
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
