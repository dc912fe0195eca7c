"""Model pricing: /api/model-pricing (read) and /api/admin/model-pricing (CRUD)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard import pricing
from services.dashboard.accounts import guard
from services.dashboard.queries.model_pricing import Price
from services.dashboard.web import deps
from services.dashboard.web.inputs import path_id, raw_body
from services.dashboard.web.responses import ok


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
    Route("/model-pricing", list_active, methods=["GET"]),
    Route("/admin/model-pricing", list_all, methods=["GET"]),
    Route("/admin/model-pricing", create_price, methods=["POST"]),
    Route("/admin/model-pricing/{id:int}", update_price, methods=["PUT", "PATCH"]),
    Route("/admin/model-pricing/{id:int}", delete_price, methods=["DELETE"]),
]
