"""Probes for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

``/healthz`` says the process is up and serving: 200 always, touching nothing else, so a
database outage never makes an orchestrator restart processes that are fine. ``/readyz`` says
the process can do useful work: 200 when the database answers ``SELECT 1`` and, when the
rate-limit storage is Redis (``ROSTER_REDIS_URL``), Redis answers ``PING``; else 503, so the
balancer sends traffic elsewhere.

Both are outside ``/api`` and the dashboard: no authentication, no CSRF (GET and HEAD only), no
rate limit, and ``Cache-Control: no-store`` so no cache answers in the app's place. Bodies name
the checks and their outcome, never a cause: the probes are public, and a driver message or a
connection string would tell anyone what stands behind the app. The cause goes to the log.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, json
from sqlalchemy import text

from webapp.errors import driver_message
from webapp.extensions import attempts, db

bp = Blueprint("health", __name__)

OK = "ok"
UNAVAILABLE = "unavailable"


def _answer(status: int, body: dict[str, object]) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _answer(200, {"status": OK})


@bp.get("/readyz")
def readyz() -> Response:
    """200 with every check ``ok``; 503 when any check fails (the body says which)."""
    checks = {"database": _run("database", _database)}
    if _redis_configured():
        checks["redis"] = _run("redis", _redis)
    ready = all(outcome == OK for outcome in checks.values())
    body = {"status": OK if ready else UNAVAILABLE, "checks": checks}
    return _answer(200 if ready else 503, body)


def _run(name: str, check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as error:
        current_app.logger.warning("readiness check %r failed: %s", name, driver_message(error))
        return UNAVAILABLE
    return OK


def _database() -> None:
    # A connection of its own, not the request's session: nothing of the request to roll back,
    # and the pool's check at checkout replaces a stale connection before SELECT 1 runs.
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Outside a transaction: at a ROLLBACK psycopg would drop the connection's
            # prepared statements (transactions.prepared), and probes come every few seconds.
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("SELECT 1"))


def _redis_configured() -> bool:
    return str(current_app.config.get("RATELIMIT_STORAGE_URI", "")).startswith("redis")


def _redis() -> None:
    # The attempt limits' own storage: the same URL, options and connection pool the limits use.
    if not attempts.storage.check():
        raise ConnectionError("the rate-limit storage did not answer PING")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
