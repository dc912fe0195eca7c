"""Request bodies of the providers API (the provider form posts the same fields)."""

from __future__ import annotations

from pydantic import Field

from services.dashboard.web.inputs import Body


class ProviderKeyIn(Body):
    provider: str
    apiKey: str
    name: str | None = None
    baseUrl: str | None = None
    target: str | None = None


class ModelIn(Body):
    upstreamName: str
    alias: str | None = None


class CustomProviderIn(Body):
    name: str
    providerId: str
    baseUrl: str
    apiKey: str | None = None
    prefix: str | None = None
    proxyUrl: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    models: list[ModelIn] = Field(default_factory=list)
    excludedModels: list[str] = Field(default_factory=list)
    groupId: int | None = None


class FetchModelsIn(Body):
    baseUrl: str | None = None
    apiKey: str | None = None
    customProviderId: int | None = None


class ProviderOrder(Body):
    providerIds: list[int] = Field(max_length=1000)


class GroupIn(Body):
    name: str
    color: str | None = None


class GroupPatch(Body):
    name: str | None = None
    color: str | None = None
    isActive: bool | None = None


class GroupOrder(Body):
    groupIds: list[int] = Field(max_length=1000)
