"""The snapshot the Monitoring page and API show, with this replica's rate memory."""

from __future__ import annotations

from starlette.requests import Request

from services.dashboard.monitoring.probes import Rates, Snapshot, snapshot
from services.dashboard.proxies.link import link
from services.dashboard.web import deps


def rates(request: Request) -> Rates:
    value = request.app.state.monitoring_rates
    assert isinstance(value, Rates)
    return value


async def current(request: Request) -> Snapshot:
    return await snapshot(deps.pool(request), link(request).client, rates(request))
