"""Request bodies of the JSON API (and of the forms that post the same fields).

Field names are the seed dashboard's (camelCase), so its scripts keep working.
"""

from __future__ import annotations

from pydantic import Field

from services.dashboard.web.inputs import Body as _In


class ProviderKeyIn(_In):
    provider: str
    apiKey: str
    name: str | None = None
    baseUrl: str | None = None
    target: str | None = None


class ModelIn(_In):
    upstreamName: str
    alias: str | None = None


class CustomProviderIn(_In):
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


class FetchModelsIn(_In):
    baseUrl: str | None = None
    apiKey: str | None = None
    customProviderId: int | None = None


class ProviderOrder(_In):
    providerIds: list[int] = Field(max_length=1000)


class GroupIn(_In):
    name: str
    color: str | None = None


class GroupPatch(_In):
    name: str | None = None
    color: str | None = None
    isActive: bool | None = None


class GroupOrder(_In):
    groupIds: list[int] = Field(max_length=1000)


class UserCreate(_In):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)
    isAdmin: bool = False


class RoleChange(_In):
    isAdmin: bool


class SettingIn(_In):
    key: str
    value: bool | int | str
