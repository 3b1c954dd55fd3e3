"""Flask extensions, created unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from typing import cast

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from limits.storage import Storage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from webapp.models import Base

# Services return fresh values explicitly; expiring everything on commit would only re-query.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


class AttemptStorage:
    """Where ``webapp.auth``'s attempt limits count: the ``limits`` library's storage
    (``RATELIMIT_STORAGE_URI``: memory, or Redis shared by every process) and strategy
    (``RATELIMIT_STRATEGY``), one pair per app.

    No route declares a rate limit, so Flask-Limiter, which is built on the same library, would
    only add three hooks to every request (about 6 % of a JSON member page's time, measured by
    ``scripts/bench.py --profile``) to find none.
    """

    def init_app(self, app: Flask) -> None:
        storage = storage_from_string(
            app.config["RATELIMIT_STORAGE_URI"], **app.config.get("RATELIMIT_STORAGE_OPTIONS", {})
        )
        strategy = STRATEGIES[app.config["RATELIMIT_STRATEGY"]](storage)
        app.extensions["roster.attempts"] = (storage, strategy)

    @property
    def storage(self) -> Storage:
        return cast(tuple[Storage, RateLimiter], current_app.extensions["roster.attempts"])[0]

    @property
    def strategy(self) -> RateLimiter:
        return cast(tuple[Storage, RateLimiter], current_app.extensions["roster.attempts"])[1]


attempts = AttemptStorage()
