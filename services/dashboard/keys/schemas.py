"""Request bodies of the client keys API."""

from __future__ import annotations

from services.dashboard.web.inputs import Body


class KeyCreate(Body):
    name: str | None = None


class KeyRename(Body):
    id: int | None = None
    name: str
