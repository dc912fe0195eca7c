"""The app's link to the proxies, opened by the lifespan: the management client, the syncer and
the dashboard's own catalog key. Routes reach it through `link(request)`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from services.dashboard.proxies.client import ManagementClient
from services.dashboard.proxies.sync import ProxySync


@dataclass(frozen=True, slots=True)
class ProxyLink:
    client: ManagementClient
    sync: ProxySync
    catalog_key: str


def link(request: Request) -> ProxyLink:
    value = request.app.state.proxies
    assert isinstance(value, ProxyLink)
    return value
