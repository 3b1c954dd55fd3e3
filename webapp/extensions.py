"""Flask extensions, created unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from webapp.models import Base

# Services return fresh values explicitly; expiring everything on commit would only re-query.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# No default limits: only the failure-counting limits of webapp.auth and the login view apply.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
