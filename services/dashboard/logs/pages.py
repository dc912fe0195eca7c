"""The Logs page (admin): the proxies' or this dashboard's log lines with level filter, search
and live follow (htmx polling with a cursor), and the proxies' request error logs."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.logs import proxy_logs, reading
from services.dashboard.logs.reading import Query
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import check_confirmed, path_id, raw_body
from services.dashboard.web.templating import render

BACK = "/dashboard/logs"


def _follow_url(q: Query, cursor: str) -> str:
    params = {"source": q.source, "level": q.keep.level, "q": q.keep.query, "cursor": cursor}
    return "/dashboard/partials/logs/follow?" + urlencode(params)


async def logs_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    q = reading.query(request)
    page = await reading.read(request, q)
    context = {
        "q": q,
        "page": page,
        "levels": proxy_logs.LEVELS,
        "following": request.query_params.get("follow") == "1",
        "follow_url": _follow_url(q, page.cursor),
    }
    return render(request, "logs.html", context, user=admin, active="logs")


async def follow(request: Request) -> Response:
    await guard.require_admin(request)
    q = reading.query(request)
    page = await reading.read(request, q)
    context = {"page": page, "follow_url": _follow_url(q, page.cursor)}
    return deps.templates(request).TemplateResponse(request, "partials/log_follow.html", context)


@form_action(BACK)
async def clear_logs(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    check_confirmed(data.get("confirm"))
    source = str(data.get("source", ""))
    problems = await reading.clear(request, admin, source)
    if problems:
        return flash.redirect(request, f"{BACK}?source={source}", "; ".join(problems), "error")
    return flash.redirect(request, f"{BACK}?source={source}", "Logs cleared.")


async def error_logs_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    files, problems = await proxy_logs.error_logs(link(request).client)
    context = {"files": files, "problems": problems}
    return render(request, "error_logs.html", context, user=admin, active="logs")


async def error_log_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    replica, name = _error_log_ref(request)
    body, more = await proxy_logs.error_log(
        link(request).client, replica, name, proxy_logs.VIEW_LIMIT
    )
    context = {
        "name": name,
        "replica": replica,
        "text": body.decode("utf-8", "replace"),
        "truncated": more,
    }
    return render(request, "error_log.html", context, user=admin, active="logs")


async def error_log_download(request: Request) -> Response:
    await guard.require_admin(request)
    replica, name = _error_log_ref(request)
    body, _ = await proxy_logs.error_log(
        link(request).client, replica, name, proxy_logs.DOWNLOAD_LIMIT
    )
    return Response(
        body,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _error_log_ref(request: Request) -> tuple[int, str]:
    replica = path_id(request, "replica") - 1  # 1-based in URLs, as pages name them
    name = str(request.path_params["name"])
    proxy_logs.check_error_log(link(request).client, replica, name)
    return replica, name


routes = [
    Route("/dashboard/logs", logs_page, methods=["GET"]),
    Route("/dashboard/partials/logs/follow", follow, methods=["GET"]),
    Route("/dashboard/logs/clear", clear_logs, methods=["POST"]),
    Route("/dashboard/logs/errors", error_logs_page, methods=["GET"]),
    Route("/dashboard/logs/errors/{replica:int}/{name}", error_log_page, methods=["GET"]),
    Route(
        "/dashboard/logs/errors/{replica:int}/{name}/download",
        error_log_download,
        methods=["GET"],
    ),
]
