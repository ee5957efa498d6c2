"""The JSON faces under fuzzing: which routes they own, and what an error looks like on each.

Every JSON route is taken from the app's own URL map (a route added later is fuzzed without
touching this file); the few routes of those blueprints that answer HTML pages are named here.
Each face answers errors in its vendor's shape, checked by ``assert_face_shape``:

- ``oauth``: RFC 6749 5.2 (OAuth 2.0 error response), ``{"error", "error_description"?}``
- ``ciam``: Tencent CIAM, the same ``{"error", "error_description"?}``
- ``cloudbase``: Tencent CloudBase "User Login API", ``{"error", "error_code": int, "error_description"}``
- ``zitadel``: ZITADEL's gRPC-gateway status, ``{"code": int, "message", "details"?}``
- ``oneaccess``: Huawei OneAccess, ``{"error_code", "error_msg", "status"?}``
- ``admin``: the admin API's own ``{"error", "error_description"}``
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

FACES = ("oauth", "ciam", "cloudbase", "zitadel", "oneaccess", "admin")

# routes of those blueprints that answer HTML to a browser, not JSON (OpenID Connect Core 3.1.2
# authorization, and RP-Initiated Logout 1.0): fuzzed for "no 5xx" only, separately
HTML_ROUTES = frozenset({"/oauth2/authorize", "/oauth2/authorize/continue", "/oauth2/logout"})

# methods a browser or client may try on any route; HEAD and OPTIONS are answered by Flask itself
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

_ARGUMENT = re.compile(r"<(?:[^>:]*:)?(\w+)>")


@dataclass(frozen=True)
class Endpoint:
    """One (rule, method) pair of a JSON face."""

    face: str
    rule: str
    method: str
    # path argument -> the values its converter accepts (None: any text)
    arguments: tuple[tuple[str, tuple[str, ...] | None], ...] = ()

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"

    def path(self, values: dict[str, str]) -> str:
        """The rule with each argument replaced by its (already URL-encoded) value."""
        return _ARGUMENT.sub(lambda m: values[m.group(1)], self.rule)

    def plain_path(self) -> str:
        """The rule with each argument at a value its converter accepts."""
        return self.path({name: choices[0] if choices else "user-1" for name, choices in self.arguments})


def json_endpoints(app) -> list[Endpoint]:
    """Every (rule, method) of the JSON faces, from ``app.url_map``, in a stable order."""
    endpoints = []
    for rule in app.url_map.iter_rules():
        face = rule.endpoint.partition(".")[0]
        if face not in FACES or rule.rule in HTML_ROUTES:
            continue
        arguments = []
        for name in _ARGUMENT.findall(rule.rule):
            items = getattr(rule._converters[name], "items", None)
            arguments.append((name, tuple(sorted(items)) if items else None))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            endpoints.append(Endpoint(face, rule.rule, method, tuple(arguments)))
    return sorted(endpoints, key=lambda e: (e.face, e.rule, e.method))


def _text(body: dict, name: str, *, optional: bool = False) -> None:
    if optional and name not in body:
        return
    assert isinstance(body.get(name), str), f"{name!r} must be a string"


def assert_face_shape(face: str, status: int, body: Any) -> None:
    """An error body (status >= 400) in ``face``'s own wire shape."""
    assert isinstance(body, dict), "an error body must be a JSON object"
    if face in ("oauth", "ciam"):
        _text(body, "error")
        assert body["error"], "'error' must not be empty"
        _text(body, "error_description", optional=True)
    elif face == "cloudbase":
        _text(body, "error")
        code = body.get("error_code")
        assert isinstance(code, int) and not isinstance(code, bool), "'error_code' must be a gRPC status number"
        _text(body, "error_description")
    elif face == "zitadel":
        code = body.get("code")
        assert isinstance(code, int) and not isinstance(code, bool), "'code' must be a gRPC status number"
        assert code != 0, "an error is never gRPC OK"
        _text(body, "message")
        assert isinstance(body.get("details", []), list), "'details' must be a list"
    elif face == "oneaccess":
        _text(body, "error_code")
        _text(body, "error_msg")
    elif face == "admin":
        _text(body, "error")
        _text(body, "error_description")
    else:
        raise AssertionError(f"unknown face {face}")


def response_json(response) -> Any:
    """The body as JSON: the media type says JSON, and the bytes parse (RFC 8259)."""
    assert response.is_json, f"Content-Type {response.content_type!r} is not JSON"
    return json.loads(response.get_data())


def allowed_methods(app, path: str) -> set[str]:
    """The methods some rule answers at ``path`` (empty when no rule matches it)."""
    adapter = app.url_map.bind("localhost")
    return set(adapter.allowed_methods(path)) - {"HEAD", "OPTIONS"}
