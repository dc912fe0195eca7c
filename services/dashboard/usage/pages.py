"""The usage page: window picker, charts, sortable breakdowns, events, CSV, freshness; and the
model pricing page (admins): the price list with effective dates, add, edit, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.accounts.queries import users as users_q
from services.dashboard.usage import collect as usage_collect
from services.dashboard.usage import history as usage_history
from services.dashboard.usage import pricing
from services.dashboard.usage.history import Report
from services.dashboard.usage.queries.history import Scope
from services.dashboard.usage.report_json import events_json, point_json, row_json
from services.dashboard.usage.window import WINDOWS, Window, parse_window, viewer_params
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import path_id, raw_body
from services.dashboard.web.templating import render

PAGE = "/dashboard/usage"
PRICING = "/dashboard/pricing"


def _link(params: dict[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{PAGE}?{query}" if query else PAGE


def _filters(scope: Scope, viewer_is_admin: bool) -> dict[str, str]:
    values = {
        "userId": str(scope.user_id) if viewer_is_admin and scope.user_id is not None else "",
        "model": scope.model or "",
        "provider": scope.provider or "",
        "apiKey": scope.api_key_id or "",
        "credential": scope.credential or "",
    }
    return {k: v for k, v in values.items() if v}


# breakdown -> the query parameter that filters by one of its rows
_ROW_FILTER = {
    "model": "model",
    "apiKey": "apiKey",
    "user": "userId",
    "provider": "provider",
    "credential": "credential",
}


def _links(window: Window, filters: dict[str, str], report: Report | None) -> dict[str, Any]:
    """Every URL the page needs, each keeping the rest of the view."""
    base = {**window.query(), **filters}
    keep = {"tz": window.tz, **filters}
    api_query = urlencode(base)
    rows: dict[str, dict[str, str]] = {}
    for kind, rows_of_kind in (report.breakdowns if report else {}).items():
        param = _ROW_FILTER[kind]
        rows[kind] = {r.id: _link({**base, param: r.id}) for r in rows_of_kind if r.id}
    return {
        "windows": {name: _link({**keep, "window": name}) for name in WINDOWS},
        "clear": {name: _link({**base, name: ""}) for name in filters},
        "rows": rows,
        "csv": f"/api/usage/export.csv?{api_query}",
        "events": f"{PAGE}/events?{api_query}",
        "self": _link(base),
    }


def _chart_data(report: Report) -> dict[str, Any]:
    return {
        "bucket": report.window.bucket,
        "series": [point_json(p, report.window) for p in report.series],
        "models": [row_json(r) for r in report.breakdowns.get("model", [])[:8]],
        "keys": [
            row_json(r)
            for r in sorted(report.breakdowns.get("apiKey", []), key=lambda r: -r.metrics.requests)[
                :10
            ]
        ],
    }


def _dates(window: Window) -> tuple[str, str]:
    """The window's first and last local day, for the custom range inputs."""
    zone = window.zone
    last = window.end - timedelta(microseconds=1)
    return (
        window.start.astimezone(zone).date().isoformat(),
        last.astimezone(zone).date().isoformat(),
    )


async def usage_page(request: Request) -> Response:
    user = await guard.require_user(request)
    params, tz_source = viewer_params(request)
    now = datetime.now(UTC)
    window = parse_window(params, now)
    scope = usage_history.scope_for(user, params, window)
    pool = deps.pool(request)
    report = await usage_history.report(pool, window, scope, before=params.get("before"))
    filters = _filters(scope, user.is_admin)
    people = []
    if user.is_admin:
        async with pool.connection() as conn:
            people = await users_q.list_page(conn, 500, 0)
    context = {
        "report": report,
        "window": window,
        "tz_source": tz_source,
        "filters": filters,
        "links": _links(window, filters, report),
        "chart": _chart_data(report),
        "dates": _dates(window),
        "events": events_json(report.events, window) if report.events else {"items": []},
        "freshness": usage_collect.report_freshness(report),
        "people": people,
        "show_users": user.is_admin and scope.user_id is None,
    }
    return render(request, "usage.html", context, user=user, active="usage")


async def events_partial(request: Request) -> Response:
    """More event rows for the htmx "Older events" button."""
    user = await guard.require_user(request)
    params, _ = viewer_params(request)
    window = parse_window(params, datetime.now(UTC))
    scope = usage_history.scope_for(user, params, window)
    async with deps.pool(request).connection() as conn:
        page = await usage_history.event_page(
            conn, scope, before=params.get("before"), limit=usage_history.DEFAULT_EVENTS
        )
    filters = _filters(scope, user.is_admin)
    context = {
        "events": events_json(page, window),
        "user": user,
        "links": _links(window, filters, None),
        "window": window,
    }
    return deps.templates(request).TemplateResponse(request, "partials/usage_events.html", context)


@form_action(PAGE)
async def collect_now(request: Request) -> Response:
    admin = await guard.require_admin(request)
    await usage_collect.wake(deps.pool(request), f"admin:{admin.username}")
    return flash.redirect(request, PAGE, "The collector was asked to collect now.")


async def pricing_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    prices = await pricing.list_prices(deps.pool(request), active_only=False)
    context = {
        "prices": prices,
        "show_deleted": request.query_params.get("deleted") == "1",
        "now": datetime.now(UTC),
    }
    return render(request, "pricing.html", context, user=admin, active="pricing")


async def edit_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    price = await pricing.get_price(deps.pool(request), path_id(request))
    return render(request, "pricing_edit.html", {"price": price}, user=admin, active="pricing")


@form_action(PRICING)
async def create_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    fields = pricing.check(await raw_body(request))
    price = await pricing.create(deps.pool(request), guard.actor(request, admin), fields)
    return flash.redirect(request, PRICING, f"Price for {price.provider}/{price.model} added.")


@form_action(lambda request: f"{PRICING}/{request.path_params['id']}")
async def update_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    fields = pricing.check(await raw_body(request))
    price = await pricing.update(
        deps.pool(request), guard.actor(request, admin), path_id(request), fields
    )
    return flash.redirect(request, PRICING, f"Price for {price.provider}/{price.model} saved.")


@form_action(PRICING)
async def delete_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    price = await pricing.delete(deps.pool(request), guard.actor(request, admin), path_id(request))
    return flash.redirect(request, PRICING, f"Price for {price.provider}/{price.model} deleted.")


routes = [
    Route(PAGE, usage_page, methods=["GET"]),
    Route(f"{PAGE}/events", events_partial, methods=["GET"]),
    Route(f"{PAGE}/collect", collect_now, methods=["POST"]),
    Route(PRICING, pricing_page, methods=["GET"]),
    Route(PRICING, create_price, methods=["POST"]),
    Route(PRICING + "/{id:int}", edit_page, methods=["GET"]),
    Route(PRICING + "/{id:int}", update_price, methods=["POST"]),
    Route(PRICING + "/{id:int}/delete", delete_price, methods=["POST"]),
]
