"""Fixtures for driving one provider's hooks against the OAuth fakes: an upstream session and
an `OAuthHttp` that reach them through `upstream-host-overrides`, as the proxy makes them.
The sending helpers are in `serving.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.proxy.config.host_overrides import HostOverrides
from services.proxy.oauth.http import OAuthHttp
from services.proxy.upstream.sessions import upstream_session


@pytest.fixture
async def session(oauth_fakes) -> AsyncIterator[aiohttp.ClientSession]:
    """An upstream session with the fakes' overrides, as the proxy makes them."""
    async with upstream_session(overrides=HostOverrides(oauth_fakes.overrides)) as made:
        yield made


@pytest.fixture
def oauth_http(session) -> OAuthHttp:
    return OAuthHttp(session, None)
