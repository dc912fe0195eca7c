"""The model pricing page (admins): the price list with effective dates, add, edit, delete."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard import pricing
from services.dashboard.accounts import guard
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import path_id, raw_body
from services.dashboard.web.templating import render

PAGE = "/dashboard/pricing"


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


@form_action(PAGE)
async def create_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    fields = pricing.check(await raw_body(request))
    price = await pricing.create(deps.pool(request), guard.actor(request, admin), fields)
    return flash.redirect(request, PAGE, f"Price for {price.provider}/{price.model} added.")


@form_action(lambda request: f"{PAGE}/{request.path_params['id']}")
async def update_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    fields = pricing.check(await raw_body(request))
    price = await pricing.update(
        deps.pool(request), guard.actor(request, admin), path_id(request), fields
    )
    return flash.redirect(request, PAGE, f"Price for {price.provider}/{price.model} saved.")


@form_action(PAGE)
async def delete_price(request: Request) -> Response:
    admin = await guard.require_admin(request)
    price = await pricing.delete(deps.pool(request), guard.actor(request, admin), path_id(request))
    return flash.redirect(request, PAGE, f"Price for {price.provider}/{price.model} deleted.")


routes = [
    Route(PAGE, pricing_page, methods=["GET"]),
    Route(PAGE, create_price, methods=["POST"]),
    Route(PAGE + "/{id:int}", edit_page, methods=["GET"]),
    Route(PAGE + "/{id:int}", update_price, methods=["POST"]),
    Route(PAGE + "/{id:int}/delete", delete_price, methods=["POST"]),
]
