"""Usage analytics: /api/usage/history, /events, /export.csv and /collect; model pricing:
/api/model-pricing (read) and /api/admin/model-pricing (CRUD)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.core.errors import ValidationFailed
from services.dashboard.accounts import guard
from services.dashboard.usage import collect as usage_collect
from services.dashboard.usage import csv_export, pricing
from services.dashboard.usage import history as usage_history
from services.dashboard.usage.history import Report
from services.dashboard.usage.queries.history import Scope
from services.dashboard.usage.queries.model_pricing import Price
from services.dashboard.usage.report_json import events_json, freshness_json, report_json
from services.dashboard.usage.window import Window, parse_window
from services.dashboard.web import deps
from services.dashboard.web.inputs import int_param, path_id, raw_body
from services.dashboard.web.responses import ok


async def _window_and_scope(request: Request) -> tuple[Window, Scope]:
    user = await guard.require_user(request)
    window = parse_window(request.query_params, datetime.now(UTC))
    return window, usage_history.scope_for(user, request.query_params, window)


async def load_report(request: Request, *, events_limit: int | None = None) -> Report:
    """The report the query string asks for (shared by the API and the usage page)."""
    window, scope = await _window_and_scope(request)
    limit = (
        int_param(request, "eventsLimit", usage_history.DEFAULT_EVENTS, 0, 500)
        if events_limit is None
        else events_limit
    )
    return await usage_history.report(
        deps.pool(request),
        window,
        scope,
        events_limit=limit,
        before=request.query_params.get("before"),
    )


async def get_history(request: Request) -> Response:
    report = await load_report(request)
    data = report_json(report)
    data["collector"] = freshness_json(usage_collect.report_freshness(report))
    return ok(data)


async def list_events(request: Request) -> Response:
    window, scope = await _window_and_scope(request)
    limit = int_param(request, "limit", usage_history.DEFAULT_EVENTS, 1, 500)
    async with deps.pool(request).connection() as conn:
        page = await usage_history.event_page(
            conn, scope, before=request.query_params.get("before"), limit=limit
        )
    return ok(events_json(page, window))


def _filename(window: Window, kind: str) -> str:
    stamp = window.end.strftime("%Y%m%dT%H%MZ")
    return f"usage-{window.name}-{kind}-{stamp}.csv"


async def export_csv(request: Request) -> Response:
    kind = request.query_params.get("kind") or "series"
    if kind not in csv_export.KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(csv_export.KINDS)}",
            details=[{"field": "kind", "message": "unknown"}],
        )
    headers = {"Content-Disposition": 'attachment; filename="{}"'}
    if kind == "events":
        window, scope = await _window_and_scope(request)
        headers["Content-Disposition"] = headers["Content-Disposition"].format(
            _filename(window, kind)
        )
        body = csv_export.events_csv(deps.pool(request), window, scope)
        return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
    report = await load_report(request, events_limit=0)
    headers["Content-Disposition"] = headers["Content-Disposition"].format(
        _filename(report.window, kind)
    )
    text = csv_export.aggregate_csv(report, kind)
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


async def collect_now(request: Request) -> Response:
    """Wake the collector: the collector bearer, or an admin session (Origin-checked)."""
    header = request.headers.get("authorization")
    if header is not None:
        # A bearer request never falls back to the cookie: it is exempt from the CSRF check.
        usage_collect.require_bearer(header, deps.settings(request).collector_api_key)
        reason = "api"
    else:
        admin = await guard.require_admin(request)
        reason = f"admin:{admin.username}"
    view = await usage_collect.wake(deps.pool(request), reason)
    return ok({"queued": True, "collector": freshness_json(view)}, status=202)


async def get_freshness(request: Request) -> Response:
    await guard.require_user(request)
    return ok(freshness_json(await usage_collect.freshness(deps.pool(request))))


def price_json(price: Price) -> dict[str, object]:
    return {
        "id": price.id,
        "provider": price.provider,
        "model": price.model,
        "displayName": price.display_name,
        "inputPerMTok": price.input_per_mtok,
        "outputPerMTok": price.output_per_mtok,
        "cachedInputPerMTok": price.cached_input_per_mtok,
        "cacheWritePerMTok": price.cache_write_per_mtok,
        "reasoningPerMTok": price.reasoning_per_mtok,
        "currency": price.currency,
        "source": price.source,
        "effectiveFrom": price.effective_from,
        "isActive": price.is_active,
        "inForce": price.in_force,
        "updatedAt": price.updated_at,
    }


async def list_active(request: Request) -> Response:
    await guard.require_user(request)
    prices = await pricing.list_prices(deps.pool(request), active_only=True)
    return ok({"prices": [price_json(p) for p in prices]})


async def list_all(request: Request) -> Response:
    await guard.require_admin(request)
    prices = await pricing.list_prices(deps.pool(request), active_only=False)
    return ok({"prices": [price_json(p) for p in prices]})


async def create_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    fields = pricing.check(await raw_body(request))
    price = await pricing.create(deps.pool(request), guard.actor(request, admin), fields)
    return ok(price_json(price), status=201)


async def update_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    fields = pricing.check(await raw_body(request))
    price = await pricing.update(
        deps.pool(request), guard.actor(request, admin), path_id(request), fields
    )
    return ok(price_json(price))


async def delete_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    price = await pricing.delete(deps.pool(request), guard.actor(request, admin), path_id(request))
    return ok({"deleted": price.id})


routes = [
    Route("/usage/history", get_history, methods=["GET"]),
    Route("/usage/events", list_events, methods=["GET"]),
    Route("/usage/export.csv", export_csv, methods=["GET"]),
    Route("/usage/collect", collect_now, methods=["POST"]),
    Route("/usage/collector", get_freshness, methods=["GET"]),
    Route("/model-pricing", list_active, methods=["GET"]),
    Route("/admin/model-pricing", list_all, methods=["GET"]),
    Route("/admin/model-pricing", create_price, methods=["POST"]),
    Route("/admin/model-pricing/{id:int}", update_price, methods=["PUT", "PATCH"]),
    Route("/admin/model-pricing/{id:int}", delete_price, methods=["DELETE"]),
]
