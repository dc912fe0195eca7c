"""The durable usage outbox and the routes the collector pulls it through."""

from __future__ import annotations

from .outbox import Outbox
from .routes import usage_routes

__all__ = ["Outbox", "usage_routes"]
