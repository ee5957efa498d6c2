"""Forms of the hosted pages: shape only; the rules ("wrong code", "too many attempts") come
from the services as ``IdpError`` and the view attaches them to a field. Every one is a
``FlaskForm``, so every POST carries and checks a CSRF token. Field names are fixed for
integrators and page tests: ``username``, ``password``, ``phone_number``, ``email``, ``code``."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TelField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # types-WTForms 3.2 predates it
from wtforms.validators import InputRequired, Length, Optional, Regexp

CODE_ATTRS = {
    "autocomplete": "one-time-code",
    "inputmode": "numeric",
    "pattern": "[0-9]*",
    "maxlength": "10",
    "class": "code-input",
}
REQUIRED = _l("This field is required.")
TOO_LONG = _l("This is too long.")
BAD_CODE = _l("Enter the code you received.")
BAD_USERNAME = _l("Use 2 to 48 letters, digits or -_.:+@.")


def required():
    return InputRequired(message=REQUIRED)


# The image captcha the brute-force policy asks for after repeated failures. Both fields are
# optional in the form: the page shows them only when a captcha is due, and the view checks
# them (``blueprints.hosted.login``). Answers are 4-6 characters, not case-sensitive.
CAPTCHA_ATTRS = {
    "autocomplete": "off",
    "autocapitalize": "characters",
    "autocorrect": "off",
    "spellcheck": "false",
    "maxlength": "16",
    "class": "captcha-input",
}


def captcha_field():
    return StringField(
        _l("Characters in the image"), [Optional(), Length(max=16, message=TOO_LONG)], render_kw=CAPTCHA_ATTRS
    )


def captcha_challenge_field():
    return HiddenField()  # the challenge's token; ``CaptchaService.solve`` checks it


class PasswordLoginForm(FlaskForm):
    username = StringField(
        _l("Username, email or phone number"),
        [required(), Length(max=320, message=TOO_LONG)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"), [required(), Length(max=256, message=TOO_LONG)], render_kw={"autocomplete": "current-password"}
    )
    captcha = captcha_field()
    captcha_challenge = captcha_challenge_field()
    submit = SubmitField(_l("Sign in"))


class PhoneForm(FlaskForm):
    phone_number = TelField(
        _l("Phone number"),
        [required(), Length(max=32, message=TOO_LONG)],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    submit = SubmitField(_l("Send code"))

    @property
    def target(self):
        return self.phone_number


class EmailForm(FlaskForm):
    email = EmailField(
        _l("Email address"),
        [required(), Length(max=320, message=TOO_LONG)],
        render_kw={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Send code"))

    @property
    def target(self):
        return self.email


def target_form(channel: str, **kwargs) -> PhoneForm | EmailForm:
    return (PhoneForm if channel == "sms" else EmailForm)(**kwargs)


def code_field():
    return StringField(
        _l("Verification code"),
        [required(), Length(min=4, max=10, message=BAD_CODE), Regexp(r"^\s*\d+\s*$", message=BAD_CODE)],
        render_kw=CODE_ATTRS,
    )


class CodeForm(FlaskForm):
    code = code_field()
    submit = SubmitField(_l("Verify"))


class LoginCodeForm(CodeForm):
    """The login code step: a captcha joins it when the brute-force policy asks for one."""

    captcha = captcha_field()
    captcha_challenge = captcha_challenge_field()


class ResendForm(FlaskForm):
    resend = SubmitField(_l("Resend code"))


class ConsentForm(FlaskForm):
    allow = SubmitField(_l("Allow"))
    deny = SubmitField(_l("Deny"))


class LogoutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))


def new_password_field(label=None):
    return PasswordField(
        label or _l("Password"),
        [required(), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": "new-password", "minlength": "8"},
    )


class SignupForm(FlaskForm):
    code = code_field()
    name = StringField(
        _l("Name (optional)"), [Optional(), Length(max=200, message=TOO_LONG)], render_kw={"autocomplete": "name"}
    )
    username = StringField(
        _l("Username (optional)"),
        [Optional(), Length(min=2, max=48, message=BAD_USERNAME)],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )
    password = PasswordField(
        _l("Password (optional)"),
        [Optional(), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": "new-password", "minlength": "8"},
    )
    submit = SubmitField(_l("Create account"))


class ResetForm(FlaskForm):
    code = code_field()
    password = new_password_field(_l("New password"))
    submit = SubmitField(_l("Set new password"))


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), [Optional(), Length(max=200, message=TOO_LONG)], render_kw={"autocomplete": "name"})
    locale = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("", _l("Automatic")),
            SelectChoice("en", "English", render_kw={"lang": "en"}),
            SelectChoice("zh-CN", "简体中文", render_kw={"lang": "zh-Hans"}),
        ],
    )
    submit = SubmitField(_l("Save"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        [Optional(), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": "current-password"},
    )
    password = new_password_field(_l("New password"))
    submit = SubmitField(_l("Change password"))


class SignOutEverywhereForm(FlaskForm):
    submit = SubmitField(_l("Sign out everywhere"))


# -- second factors ---------------------------------------------------------------------------
RECOVERY_ATTRS = {
    "autocomplete": "one-time-code",
    "autocapitalize": "none",
    "spellcheck": "false",
    "maxlength": "32",
    "class": "code-input",
}
BAD_RECOVERY_CODE = _l("Enter one of your recovery codes.")


class MfaCodeForm(FlaskForm):
    """The second step: a code by SMS or email, or from an authenticator app."""

    code = code_field()
    remember = BooleanField()  # label in the template: it names the number of days
    submit = SubmitField(_l("Verify"))


class RecoveryCodeForm(FlaskForm):
    code = StringField(
        _l("Recovery code"),
        [
            required(),
            Length(min=6, max=32, message=BAD_RECOVERY_CODE),
            Regexp(r"^[\sA-Za-z0-9-]+$", message=BAD_RECOVERY_CODE),
        ],
        render_kw=RECOVERY_ATTRS,
    )
    remember = BooleanField()
    submit = SubmitField(_l("Verify"))


class TotpConfirmForm(FlaskForm):
    code = code_field()
    submit = SubmitField(_l("Verify"))


class ActionForm(FlaskForm):
    """A button-only form (turn a factor on or off, new recovery codes, forget a device): the
    CSRF token is all it carries; the button's text is the page's."""

    submit = SubmitField()


class PasskeyForm(FlaskForm):
    """A WebAuthn ceremony's answer: the challenge ``handle`` the page was rendered with and the
    browser's ``PublicKeyCredential.toJSON()`` (filled in by static/passkeys.js)."""

    handle = HiddenField()
    credential = HiddenField()
    submit = SubmitField(_l("Sign in with a passkey"))


class AddPasskeyForm(FlaskForm):
    handle = HiddenField()
    credential = HiddenField()
    name = StringField(
        _l("Name"),
        [Length(max=64, message=TOO_LONG)],
        render_kw={"autocomplete": "off", "placeholder": _l("e.g. My phone")},
    )
    submit = SubmitField(_l("Add a passkey"))
