"""The ceiling ``make bench`` divides by, and the launcher that serves it beside Roster.

``create_bare_app`` is a Flask app with one endpoint, ``GET /``, answering a small JSON dict:
no database, no session, no templates. ``scripts/bench.py`` serves it under the same gunicorn
settings as Roster (``webapp.serving.gunicorn_options``: one worker, the worker class and
threads of ``roster serve``, or gunicorn's sync worker with ``--worker sync``), so that
Roster's requests per second divided by this app's say how close a page comes to what the
stack itself allows.

Usage (``scripts/bench.py`` runs it; by hand only to look)::

    .venv/bin/python scripts/bench_bare_app.py --app bare --bind 127.0.0.1:8001
    .venv/bin/python scripts/bench_bare_app.py --app roster --bind 127.0.0.1:8002 --worker sync

``--app roster`` builds Roster from the ROSTER_* environment, as ``roster serve`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp import serving

WORKER_CLASSES = ("roster", "sync")
"""``roster``: roster serve's own threaded worker (RosterWorker); ``sync``: gunicorn's."""

ANSWER: dict[str, Any] = {"status": "ok", "service": "bare", "items": [1, 2, 3]}


def create_bare_app() -> Flask:
    """A Flask app whose only page is ``GET /`` → a small JSON dict."""
    app = Flask("bench_bare")

    @app.get("/")
    def index() -> dict[str, Any]:
        return ANSWER

    return app


def server_options(bind: str, worker: str, threads: int) -> dict[str, Any]:
    """``roster serve``'s gunicorn settings with one worker; ``sync`` swaps in the sync worker.

    The same dict serves both apps, so the ceiling and Roster differ only in the app.
    """
    if worker not in WORKER_CLASSES:
        raise ValueError(f"worker must be one of {WORKER_CLASSES}, not {worker!r}")
    options = serving.gunicorn_options(bind, 1, threads if worker == "roster" else 1)
    if worker == "sync":
        options["worker_class"] = "sync"
    return options


def main(argv: list[str] | None = None) -> None:
    """Serve the bare app or Roster under gunicorn until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=("bare", "roster"), required=True)
    parser.add_argument("--bind", required=True, help="host:port")
    parser.add_argument("--worker", choices=WORKER_CLASSES, default="roster")
    parser.add_argument("--threads", type=int, default=8, help="threads of the roster worker")
    args = parser.parse_args(argv)
    if args.app == "roster":
        from webapp import create_app

        app = create_app()
    else:
        app = create_bare_app()
    serving.Server(app, server_options(args.bind, args.worker, args.threads)).run()


if __name__ == "__main__":
    main()
