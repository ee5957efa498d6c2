"""What the JSON dialects share: reading a pydantic request model from a JSON body."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from idp.errors import invalid

M = TypeVar("M", bound=BaseModel)


def parse_json(model: type[M], payload: object) -> M:
    """A request model from a JSON body. Raises request.invalid naming the problem in OAuth
    ``error_description`` wording (CIAM, CloudBase)."""
    if not isinstance(payload, dict):
        raise invalid("request.invalid", "The request body must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "extra_forbidden":
            raise invalid("request.invalid", f"Unsupported attribute '{field}'.") from exc
        if first["type"] == "missing":
            raise invalid("request.invalid", f"Missing '{field}' in request.") from exc
        raise invalid("request.invalid", f"Invalid '{field}': {first['msg']}.") from exc
