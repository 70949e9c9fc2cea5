"""The web view's blueprint; view modules attach their routes to it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__)
