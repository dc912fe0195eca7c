"""Request bodies of the JSON API (and of the forms that post the same fields).

Field names are the seed dashboard's (camelCase), so its scripts keep working.
"""

from __future__ import annotations

from pydantic import Field

from services.dashboard.web.inputs import Body as _In


class UserCreate(_In):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)
    isAdmin: bool = False


class RoleChange(_In):
    isAdmin: bool


class SettingIn(_In):
    key: str
    value: bool | int | str
