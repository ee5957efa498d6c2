"""Error codes are declared once (``idp.errors.AREAS``) and every face answers each of them
deliberately.

Three walks keep the table honest: every raise site names a declared code as a literal (an AST
walk of idp/ and blueprints/ for ``error(...)`` / ``invalid(...)``), every declared code is
raised somewhere, and every code a face's table (or a comparison such as ``exc.code ==``) names
is declared and raised — a table entry for a code nothing raises is dead. Then every declared
code is rendered through every face's renderer: each answer is well formed in that face's shape.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from authlib.oauth2.base import OAuth2Error

from blueprints import errors as generic_face
from blueprints.api import admin as admin_face
from blueprints.hosted import errors as hosted
from blueprints.hosted import login as hosted_login
from idp import errors
from idp.dialects import ciam, cloudbase, oneaccess, zitadel
from idp.errors import AREAS, CODES, IdpError, Kind, error, invalid
from idp.oauth import errors as oauth

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "idp").rglob("*.py"), *(ROOT / "blueprints").rglob("*.py")])
RAISERS = ("error", "invalid")


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _calls(path: Path) -> Iterator[ast.Call]:
    """Calls of ``error``/``invalid`` imported from idp.errors (or inside it, outside the two
    functions themselves, which pass the caller's code on)."""
    tree = ast.parse(path.read_text(), str(path))
    own = path == ROOT / "idp" / "errors.py"
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "idp.errors"
        for alias in node.names
    }
    names = set(RAISERS) if own else imported & set(RAISERS)
    skipped = set()
    if own:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in RAISERS:
                skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in names
            and id(node) not in skipped
        ):
            yield node


def _literal(node: ast.Call) -> str | None:
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def raised_codes() -> set[str]:
    return {code for path in SOURCES for call in _calls(path) if (code := _literal(call)) is not None}


def compared_codes() -> dict[str, set[str]]:
    """Codes that code compares an error's code with (``exc.code == "..."``, ``in (...)``)."""
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "code"
            ):
                continue
            for right in node.comparators:
                values = right.elts if isinstance(right, ast.Tuple | ast.List | ast.Set) else [right]
                for value in values:
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.setdefault(_relative(path), set()).add(value.value)
    return found


# -- the table ----------------------------------------------------------------------------------
def test_every_raise_site_names_its_code_as_a_literal():
    dynamic = [
        f"{_relative(path)}:{call.lineno}" for path in SOURCES for call in _calls(path) if _literal(call) is None
    ]
    assert dynamic == []


def test_no_raise_site_builds_an_error_with_its_own_kind():
    """``IdpError(code, kind, ...)`` outside idp/errors.py would restate (and could contradict)
    the declared kind."""
    built = [
        f"{_relative(path)}:{node.lineno}"
        for path in SOURCES
        if path != ROOT / "idp" / "errors.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "IdpError"
    ]
    assert built == []


def test_every_raised_code_is_declared():
    assert raised_codes() - set(CODES) == set()


def test_every_declared_code_is_raised():
    assert set(CODES) - raised_codes() == set()


def test_codes_are_grouped_by_area():
    assert sum(len(area.codes) for area in AREAS.values()) == len(CODES)  # no code in two areas
    for name, area in AREAS.items():
        assert area.about.strip() and area.codes, name
        assert {code.partition(".")[0] for code in area.codes} == {name}


def test_error_takes_the_declared_kind_and_message():
    wrong = error("otp.wrong_code")
    assert (wrong.code, wrong.kind, wrong.message, wrong.details) == (
        "otp.wrong_code",
        Kind.WRONG_CODE,
        "wrong code",
        {},
    )
    locked = error("account.locked", "Locked for now.", retry_after=30)
    assert (locked.kind, locked.message, locked.retry_after) == (Kind.USER_STATUS, "Locked for now.", 30)
    assert invalid("request.invalid", "Missing 'otp'.").kind is Kind.INVALID_INPUT


def test_an_undeclared_code_or_a_wrong_shorthand_is_refused():
    with pytest.raises(LookupError, match="undeclared"):
        error("otp.made_up")
    with pytest.raises(LookupError, match="not declared as invalid input"):
        invalid("otp.wrong_code")
    assert errors.store_unavailable("Redis").code == "store.unavailable"


# -- the faces' tables ----------------------------------------------------------------------------
CODE_TABLES = {
    "ciam.ERRORS": ciam.ERRORS,
    "ciam.BEARER_ERRORS": ciam.BEARER_ERRORS,
    **{f"ciam.OPERATION_ERRORS[{op}]": table for op, table in ciam.OPERATION_ERRORS.items()},
    "cloudbase.ERRORS": cloudbase.ERRORS,
    "cloudbase.DESCRIPTIONS": cloudbase.DESCRIPTIONS,
    "zitadel.ERRORS": zitadel.ERRORS,
    "oneaccess.ERRORS": oneaccess.ERRORS,
    "oauth.ERRORS": oauth.ERRORS,
    "hosted.FIELD_ERRORS": hosted.FIELD_ERRORS,
    "hosted.PAGES": hosted.PAGES,
    "hosted.PAGE_STATUS": hosted.PAGE_STATUS,
    "hosted.login.CAPTCHA_ERRORS": dict.fromkeys(hosted_login.CAPTCHA_ERRORS),
    "admin.CHALLENGES": admin_face.CHALLENGES,
}
KIND_TABLES = {
    "ciam.BY_KIND": ciam.BY_KIND,
    "cloudbase.BY_KIND": cloudbase.BY_KIND,
    "zitadel.BY_KIND": zitadel.BY_KIND,
    "oneaccess.BY_KIND": oneaccess.BY_KIND,
    "oauth.BY_KIND": oauth.BY_KIND,
    "hosted.BY_KIND": hosted.BY_KIND,
    "generic JSON and admin STATUS": generic_face.STATUS,
}


@pytest.mark.parametrize("name", CODE_TABLES)
def test_a_face_table_names_only_codes_that_are_declared_and_raised(name):
    codes = set(CODE_TABLES[name])
    assert codes - set(CODES) == set(), "undeclared"
    assert codes - raised_codes() == set(), "declared but never raised: a dead entry"


def test_every_code_compared_with_is_declared_and_raised():
    raised = raised_codes()
    stray = {path: codes - raised for path, codes in compared_codes().items() if codes - raised}
    assert stray == {}


@pytest.mark.parametrize("name", KIND_TABLES)
def test_every_face_answers_every_kind(name):
    assert set(KIND_TABLES[name]) == set(Kind)


# -- every code on every face -----------------------------------------------------------------------
# the details their raise sites give (a renderer may read them)
DETAILS = {
    "otp.rate_limited": {"channel": "sms", "rule": "target_interval", "retry_after": 60},
    "otp.quota_exhausted": {"channel": "email", "retry_after": 3600},
    "captcha.rate_limited": {"rule": "captcha_ip", "retry_after": 42},
    "account.locked": {"retry_after": 900},
    "bearer.insufficient_scope": {"scope": "openid"},
    "admin.insufficient_scope": {"scope": "admin"},
    "request.missing": {"name": "X-client-id"},
    "oauth.error": {"error": "invalid_grant", "status": 400},
}
OAUTH_ERRORS = {
    "server_error",  # RFC 6749 4.1.2.1
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "temporarily_unavailable",
    "invalid_token",
    "insufficient_scope",
}


def every_error() -> list[IdpError]:
    return [error(code, **DETAILS.get(code, {})) for code in sorted(CODES)]


def well_formed(status: int, headers: dict) -> None:
    assert 400 <= status < 600
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    if status == 429:
        assert headers["Retry-After"].isdigit()


@pytest.mark.parametrize("exc", every_error(), ids=lambda exc: exc.code)
def test_every_code_renders_on_ciam(exc):
    renderers = [ciam.render_error, *(ciam.render_operation_error(op) for op in ciam.OPERATION_ERRORS)]
    for render in renderers:
        status, body, headers = render(exc)
        well_formed(status, headers)
        assert set(body) <= {"error", "error_description"} and body["error"]
        json.dumps(body)
    grant_error = ciam.oauth_error(exc)
    assert isinstance(grant_error, OAuth2Error) and grant_error.error
    assert dict(grant_error.get_body())["error"] == grant_error.error


@pytest.mark.parametrize("exc", every_error(), ids=lambda exc: exc.code)
def test_every_code_renders_on_cloudbase(exc):
    status, body, headers = cloudbase.render_error(exc)
    well_formed(status, headers)
    assert list(body) == ["error", "error_code", "error_description"]
    assert body["error"] and isinstance(body["error_code"], int) and body["error_description"]


@pytest.mark.parametrize("exc", every_error(), ids=lambda exc: exc.code)
def test_every_code_renders_on_zitadel(exc):
    status, body, headers = zitadel.render_error(exc)
    well_formed(status, headers)
    assert list(body) == ["code", "message", "details"]
    # grpc-gateway's status for the code, or the table's own (412 for the account's state;
    # the HTTP layer's refusals keep their HTTP status: 405 with Allow, 413)
    override = zitadel.ERRORS.get(exc.code, (None, None))[1]
    assert status in (zitadel.HTTP_STATUS[zitadel.Code(body["code"])], override)
    assert body["details"] == [{"@type": zitadel.ERROR_DETAIL_TYPE, "id": exc.code, "message": exc.message}]


@pytest.mark.parametrize("exc", every_error(), ids=lambda exc: exc.code)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_code_renders_on_oneaccess(exc, lang):
    status, body, headers = oneaccess.render_error(exc, lang)
    well_formed(status, headers)
    assert list(body) in (["error_code", "error_msg"], ["status", "error_code", "error_msg"])
    assert body["error_code"] in oneaccess.MESSAGES and body.get("status", "ACCESS_DENIED") == "ACCESS_DENIED"
    assert body["error_msg"] and "{" not in body["error_msg"]


@pytest.mark.parametrize("exc", every_error(), ids=lambda exc: exc.code)
def test_every_code_renders_on_the_neutral_oauth_mapping(exc):
    status, body, headers = oauth.render_error(exc)
    well_formed(status, headers)
    assert set(body) <= {"error", "error_description"} and body["error"] in OAUTH_ERRORS
    grant_error = oauth.oauth_error(exc)
    assert (grant_error.status_code, grant_error.error) == (status, body["error"])


@pytest.mark.parametrize("exc", every_error(), ids=lambda exc: exc.code)
def test_every_code_renders_on_the_generic_json_and_admin_api(exc):
    status, body, headers = generic_face.generic(exc)
    well_formed(status, headers)
    assert (status, body) == (generic_face.STATUS[exc.kind], {"error": exc.code, "message": exc.message})
    admin_status, admin_body, admin_headers = admin_face.render_error(exc)
    assert (admin_status, admin_body) == (status, {"error": exc.code, "error_description": exc.message})
    if status == 401 or exc.code in admin_face.CHALLENGES:
        assert admin_headers["WWW-Authenticate"].startswith(admin_face.REALM)


def test_every_code_renders_on_the_hosted_pages(app):
    """On a form, a field's message or the form's; otherwise the error page, with a title."""

    class Form:
        errors, form_errors = (), []

    with app.test_request_context("/login"):
        for exc in every_error():
            if hosted.full_page(exc):
                with pytest.raises(IdpError) as raised:
                    hosted.describe(exc)
                assert raised.value is exc
                html, status, headers = hosted.idp_error(exc)
                well_formed(status, headers)
                assert status == generic_face.STATUS[exc.kind]
                assert str(hosted.page_for(exc)[0]) in html and "<html" in html
                continue
            name, message = hosted.describe(exc)
            assert str(message), exc.code
            assert name is None or name in (
                "password",
                "captcha",
                "code",
                "phone_number",
                "email",
                "username",
                "current_password",
                "name",
            ), exc.code
            assert hosted.attach(Form(), exc) in (400, 401, 403, 404, 409, 429, 503)
