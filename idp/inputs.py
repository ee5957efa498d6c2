"""The one reader of request bodies and parameters, before any face or rule sees them.

Every face (the vendor JSON APIs, the OAuth endpoints, the admin API, the hosted pages) reads
its input through these functions, so a malformed request is refused once, the same way, as
``request.invalid`` in the face's own error shape:

- JSON text (RFC 8259) nested deeper than ``MAX_DEPTH`` (a body of a thousand ``[`` would
  otherwise exhaust the parser's recursion);
- strings that are not sequences of Unicode scalar values: a lone surrogate such as
  ``"\\ud800"`` is legal JSON text but cannot be encoded as UTF-8, so it could reach neither a
  hash nor the database (RFC 8259 8.2, "Unicode Characters");
- U+0000 in any string: no field has a use for it and PostgreSQL text cannot hold it;
- numbers that are not finite (``1e400`` parses as infinity; ``NaN`` is not JSON at all).

What is not JSON at all is answered by the caller as a missing body, as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from idp.errors import invalid

MAX_DEPTH = 32  # the deepest request any face defines is 3 levels; 32 leaves room, not recursion


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity; RFC 8259 6 does not
    raise _NotJson(name)


def read_json(raw: bytes) -> object | None:
    """The JSON value of ``raw`` (UTF-8, RFC 8259 8.1), or None when it is empty or not JSON.
    Raises request.invalid when it is JSON but nested too deeply or holds a string or number
    no face can use."""
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        value: object = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise invalid("request.invalid", f"The JSON body is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError:  # JSONDecodeError, _NotJson, an integer too long to convert
        return None
    check_value(value)
    return value


def check_value(value: object) -> None:
    """Raises request.invalid unless ``value`` (parsed JSON) is at most ``MAX_DEPTH`` deep and
    every string in it, keys included, is a clean text string and every number finite."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise invalid("request.invalid", "A number in the JSON body is out of range.")
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise invalid("request.invalid", f"The JSON body is nested more than {MAX_DEPTH} levels deep.")
            children: Iterable[object] = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def check_text(text: str) -> None:
    """Raises request.invalid when ``text`` holds a lone surrogate or U+0000."""
    if "\x00" in text:
        raise invalid("request.invalid", "A parameter holds the character U+0000.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("request.invalid", "A parameter is not valid Unicode text (a lone surrogate).") from None


def check_parameters(values: Iterable[tuple[str, Iterable[str]]]) -> None:
    """Raises request.invalid when a query or form parameter (name or value) is not clean
    text. ``values`` pairs each name with all its values (werkzeug's ``MultiDict.lists()``)."""
    for name, items in values:
        check_text(name)
        for item in items:
            check_text(item)
