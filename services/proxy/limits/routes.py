"""`PUT /v0/usage/spend`: the collector publishes spend per key and the price list;
`GET /v0/usage/spend` shows what this replica holds. Both take the collector (or management)
key, like the rest of `/v0/usage/*`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
import structlog
from aiohttp import web

from ..inbound.request_body import read_body
from ..usage.routes import authenticated, error_json
from .spend import NANO, InvalidPublication, SpendBook, parse_publication

log = structlog.get_logger(__name__)

MAX_BODY = 16 * 1024 * 1024  # about 200,000 keys with spend this month


def spend_routes(
    spend: SpendBook, accepted_keys: Callable[[], Sequence[str]]
) -> list[web.RouteDef]:
    async def put_spend(request: web.Request) -> web.StreamResponse:
        try:
            publication = parse_publication(orjson.loads(await read_body(request, MAX_BODY)))
        except (orjson.JSONDecodeError, InvalidPublication) as exc:
            return error_json(400, f"invalid spend: {exc}", "invalid_request_error", "bad_request")
        spend.publish(publication)
        log.debug("spend_published", keys=len(publication.spend), as_of=publication.as_of)
        return web.json_response({"status": "ok", "keys": len(publication.spend)})

    async def get_spend(request: web.Request) -> web.StreamResponse:
        latest = spend.latest
        body: dict[str, object] = {
            "as_of": latest.as_of,
            "day": latest.day,
            "month": latest.month,
            "keys": len(latest.spend),
            "prices": len(latest.prices),
        }
        key = request.query.get("key")
        if key:
            day, month = latest.spend.get(key, (0, 0))
            body["spend"] = {"day": day / NANO, "month": month / NANO}
        return web.json_response(body)

    return [
        web.put("/v0/usage/spend", authenticated(put_spend, accepted_keys)),
        web.get("/v0/usage/spend", authenticated(get_spend, accepted_keys)),
    ]
