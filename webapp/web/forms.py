"""Form shapes and coercion. Value rules live in the services; these only read the fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from webapp.models.tables import EMAIL_MAX, NAME_MAX, ORG_NAME_MAX
from webapp.services.values import PASSWORD_MAX


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=PASSWORD_MAX)])


class SignupForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=NAME_MAX)])
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=PASSWORD_MAX)])


class CreateOrganizationForm(FlaskForm):
    organization_name = StringField(
        "Organization name", validators=[InputRequired(), Length(max=ORG_NAME_MAX)]
    )


class EmptyForm(FlaskForm):
    """A form with only its CSRF token: sign-out, leave, revoke."""
