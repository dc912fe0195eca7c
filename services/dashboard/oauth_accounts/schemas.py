"""Request bodies of the OAuth accounts API."""

from __future__ import annotations

from services.dashboard.web.inputs import Body


class ConnectIn(Body):
    provider: str


class PasteIn(Body):
    redirectUrl: str


class ImportIn(Body, str_max_length=1_100_000):
    fileName: str = ""
    fileContent: str
