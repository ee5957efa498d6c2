"""A demo relying party (development only): "Sign in with Gatehouse" through the hosted pages.

STUB — filled in by issue 3.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("demo", __name__, url_prefix="/demo")
