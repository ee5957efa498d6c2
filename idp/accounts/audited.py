"""Refusals of a public command, audited: every login, failure and account change writes an
audit event, and a refusal changes nothing else, so its event is written on its own."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from idp import audit
from idp.errors import IdpError

F = TypeVar("F", bound=Callable[..., Any])


def refusals_audited(type_: str) -> Callable[[F], F]:
    """A ``type_`` failure event (``audit.failure``: the error code as ``reason``, nothing for
    an outage) for every ``IdpError`` the method raises. The method's ``ctx``, ``sub`` and
    ``client`` arguments say where and who; its object's ``db`` is where the event goes."""

    def decorate(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except IdpError as exc:
                given = signature.bind_partial(self, *args, **kwargs).arguments
                client = given.get("client")
                audit.failure(self.db, type_, given["ctx"], exc, sub=given.get("sub"),
                              client_id=client.client_id if client is not None else None)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate
