"""Request bodies of the accounts API (and of the setup and login forms): the seed's camelCase."""

from __future__ import annotations

from pydantic import Field

from services.dashboard.web.inputs import Body


class Credentials(Body):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class PasswordChange(Body):
    currentPassword: str = Field(max_length=1000)
    newPassword: str = Field(max_length=1000)
