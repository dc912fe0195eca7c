"""/api/logs (admin): log lines of the proxies or of this replica, clearing, and the proxies'
request error logs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.logs import proxy_logs, reading
from services.dashboard.proxies.link import link
from services.dashboard.web.inputs import path_id
from services.dashboard.web.responses import ok


async def get_logs(request: Request) -> Response:
    await guard.require_admin(request)
    q = reading.query(request)
    page = await reading.read(request, q)
    entries = [
        {"replica": e.replica, "at": e.at, "level": e.level, "text": e.text} for e in page.entries
    ]
    return ok(
        {"source": q.source, "entries": entries, "cursor": page.cursor, "problems": page.problems}
    )


async def clear_logs(request: Request) -> Response:
    admin = await guard.require_admin(request)
    source = request.query_params.get("source") or "proxy"
    problems = await reading.clear(request, admin, source)
    return ok({"cleared": source, "problems": problems})


async def list_error_logs(request: Request) -> Response:
    await guard.require_admin(request)
    files, problems = await proxy_logs.error_logs(link(request).client)
    return ok({"files": files, "problems": problems})


async def download_error_log(request: Request) -> Response:
    await guard.require_admin(request)
    replica = path_id(request, "replica") - 1
    name = str(request.path_params["name"])
    body, _ = await proxy_logs.error_log(
        link(request).client, replica, name, proxy_logs.DOWNLOAD_LIMIT
    )
    return Response(
        body,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route("/logs", get_logs, methods=["GET"]),
    Route("/logs", clear_logs, methods=["DELETE"]),
    Route("/logs/errors", list_error_logs, methods=["GET"]),
    Route("/logs/errors/{replica:int}/{name}", download_error_log, methods=["GET"]),
]
