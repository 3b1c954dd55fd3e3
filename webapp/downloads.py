"""Files sent as they are written: CSV exports, for the API and the pages alike."""

from __future__ import annotations

from collections.abc import Iterator

from flask import stream_with_context
from werkzeug.wrappers import Response


def csv_attachment(chunks: Iterator[str], filename: str) -> Response:
    """``chunks`` streamed as a CSV download named ``filename`` (ASCII, no quotes).

    The request's context, and with it the database session the rows are read on, stays open
    until the last chunk is sent. Never cached: it holds people's names and addresses.
    """
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
