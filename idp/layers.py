"""The layers of the domain, lowest first: a module imports only from its own layer or below.

Why this order: each layer is what the next one is made of. The foundation knows nothing of
storage; storage keeps rows and Redis keys without rules; records (contacts, audit events) are
the facts every rule writes down; mechanisms are single rules with their own state (the
brute-force guard, one-time codes, SSO sessions, keys, tokens, clients, bearer checks, the
authorization request, the token issuer and its deny-list); accounts and factors say who a
person is and what proves it, using those mechanisms; flows string them together into a
sign-in, a sign-up, a second step, a verification; protocols are the Authlib classes that speak
OAuth 2.0 and OpenID Connect and call the flows; faces translate each vendor's API and the admin
API into one flow or service call; wiring builds everything from the settings. When two
modules want each other, the piece they share moves down a layer: a lower layer never waits on
a higher one, so a change to a flow cannot break a mechanism.

Above the domain sit the HTTP faces (``blueprints/``, which only ``app.py`` imports) and the
application (``app.py``, ``cli.py``). ``tests/unit/test_architecture.py`` enforces all of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]  # modules, or packages standing for every module inside them


LAYERS: tuple[Layer, ...] = (
    Layer(
        "foundation",
        (
            "idp.settings",
            "idp.errors",
            "idp.crypto",
            "idp.inputs",
            "idp.context",
            "idp.clock",
            "idp.layers",
            "idp.metrics",
        ),
    ),
    Layer("storage", ("idp.db", "idp.store", "idp.models", "idp.migrate", "idp.health")),
    Layer("records", ("idp.contacts", "idp.audit")),
    Layer(
        "mechanisms",
        (
            "idp.guard",
            "idp.otp",
            "idp.sessions",
            "idp.oauth.keys",
            "idp.oauth.tokens",
            "idp.oauth.registration",
            "idp.oauth.clients",
            "idp.oauth.bearer",
            "idp.oauth.errors",
            "idp.oauth.claims",
            "idp.oauth.authorize",
            "idp.oauth.issuer",
            "idp.oauth.revocation",
            "idp.oauth.backchannel",
            "idp.federation",
        ),
    ),
    Layer("accounts", ("idp.accounts", "idp.factors")),
    Layer("flows", ("idp.flows",)),
    Layer("protocols", ("idp.oauth.grants", "idp.oauth.endpoints")),
    Layer("faces", ("idp.dialects", "idp.admin", "idp.console")),
    Layer("wiring", ("idp.services",)),
)

# packages whose modules live in different layers: their __init__ holds no code and imports nothing
NAMESPACES = ("idp", "idp.oauth")


def layers_of(module: str) -> list[int]:
    """The positions (0 = lowest) of every layer naming ``module`` or a package holding it."""
    return [
        index
        for index, layer in enumerate(LAYERS)
        if any(module == name or module.startswith(name + ".") for name in layer.modules)
    ]


def rank(module: str) -> int:
    """The position of ``module``'s layer. Raises LookupError unless exactly one layer names it."""
    found = layers_of(module)
    if len(found) != 1:
        raise LookupError(f"{module} belongs to {len(found)} layers; name it in exactly one of idp.layers.LAYERS")
    return found[0]
