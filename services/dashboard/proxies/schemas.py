"""Request bodies of the proxies API: model preferences and the alias map."""

from __future__ import annotations

from pydantic import Field

from services.dashboard.web.inputs import Body


class Preferences(Body):
    excludedModels: list[str] = Field(max_length=500)


class AliasesIn(Body):
    aliases: dict[str, list[dict[str, object]]]
