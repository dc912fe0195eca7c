"""Request bodies of the admin API: users and settings."""

from __future__ import annotations

from pydantic import Field

from services.dashboard.web.inputs import Body


class UserCreate(Body):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)
    isAdmin: bool = False


class RoleChange(Body):
    isAdmin: bool


class SettingIn(Body):
    key: str
    value: bool | int | str
