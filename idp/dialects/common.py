"""What the JSON faces share: reading a pydantic request model from a JSON body, and the
profile claims as request fields.

Every face reads bodies the same way and names the first bad field; only the wording of that
message is the face's own (``Wording``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from idp.errors import invalid

M = TypeVar("M", bound=BaseModel)

# (model, dotted name of the bad field, pydantic's first error) -> the message of request.invalid
Wording = Callable[[type[BaseModel], str, ErrorDetails], str]


class ProfileClaims(BaseModel):
    """The standard claims beyond ``name`` and ``locale`` (OpenID Connect Core 1.0, 5.1) as
    request fields, for the faces that change a profile: text or null. What a valid value is,
    the profile rule says (``idp.accounts.profile``)."""

    given_name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None
    nickname: str | None = None
    profile: str | None = None
    picture: str | None = None
    website: str | None = None
    gender: str | None = None
    birthdate: str | None = None
    zoneinfo: str | None = None


def oauth_wording(model: type[BaseModel], field: str, problem: ErrorDetails) -> str:
    """OAuth ``error_description`` wording (Tencent CIAM, Tencent CloudBase)."""
    if problem["type"] == "extra_forbidden":
        return f"Unsupported attribute '{field}'."
    if problem["type"] == "missing":
        return f"Missing '{field}' in request."
    return f"Invalid '{field}': {problem['msg']}."


def parse_json(model: type[M], payload: object, wording: Wording = oauth_wording) -> M:
    """A request model from a JSON body. Raises request.invalid naming the first bad field, in
    the face's ``wording``, with the field's name in the detail ``name``."""
    if not isinstance(payload, dict):
        raise invalid("request.invalid", "The request body must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "body"
        raise invalid("request.invalid", wording(model, field, problem), name=field) from exc
