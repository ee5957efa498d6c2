"""Refusals of a public command, audited: every login, failure and account change writes an
audit event, and a refusal changes nothing else, so its event is written on its own."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from idp import audit
from idp.db import Database
from idp.errors import IdpError


class _Audited(Protocol):
    """An object whose commands are audited: where their events go."""

    @property
    def db(self) -> Database: ...


S = TypeVar("S", bound=_Audited)
P = ParamSpec("P")
R = TypeVar("R")


def refusals_audited(
    type_: str,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """A ``type_`` failure event (``audit.failure``: the error code as ``reason``, nothing for
    an outage) for every ``IdpError`` the method raises. The method's ``ctx``, ``sub`` and
    ``client`` arguments say where and who; its object's ``db`` is where the event goes."""

    def decorate(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(self, *args, **kwargs)
            except IdpError as exc:
                given = signature.bind_partial(self, *args, **kwargs).arguments
                client = given.get("client")
                audit.failure(
                    self.db,
                    type_,
                    given["ctx"],
                    exc,
                    sub=given.get("sub"),
                    client_id=client.client_id if client is not None else None,
                )
                raise

        return wrapper

    return decorate
