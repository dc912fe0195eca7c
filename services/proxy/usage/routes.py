"""The collector's HTTP contract: `GET /v0/usage/events` pages the outbox, `POST /v0/usage/ack`.

Both take `Authorization: Bearer <key>` where the key is the collector or the management key.
Errors use the OpenAI shape `{"error": {"message", "type", "code"}}` like the rest of the proxy.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence

import orjson
from aiohttp import web

from ..inbound.request_body import read_body
from .outbox import MAX_READ, Outbox
from .siblings import SiblingOutboxes

DEFAULT_LIMIT = 1000
ACK_MAX_BYTES = 64 * 1024  # {"instance_id", "upto"} needs well under 1 KiB
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def usage_routes(
    outbox: Outbox,
    accepted_keys: Callable[[], Sequence[str]],
    siblings: SiblingOutboxes | None = None,
) -> list[web.RouteDef]:
    """Routes for the collector; `accepted_keys` is read per request so key changes apply live.

    With `siblings` (worker processes), `?instance=ID` reads any worker's outbox, an ack for
    any of them is accepted, and every answer lists the proxy's outboxes in `instances`.
    An unknown or missing `instance` reads this process's own outbox, as a single process does.
    """

    async def list_events(request: web.Request) -> web.StreamResponse:
        try:
            after = _int_param(request.query, "after", 0)
            limit = _int_param(request.query, "limit", DEFAULT_LIMIT)
        except ValueError as exc:
            return error_json(400, str(exc), "invalid_request_error", "bad_request")
        if limit < 1:
            return error_json(
                400, "limit must be at least 1", "invalid_request_error", "bad_request"
            )
        wanted = request.query.get("instance", "")
        sibling = await siblings.folder(wanted) if siblings is not None and wanted else None
        if siblings is not None and sibling is not None:
            lines, next_seq = await siblings.read(wanted, after, min(limit, MAX_READ))
        else:
            wanted = outbox.instance_id
            lines, next_seq = await outbox.read(after, min(limit, MAX_READ))
        instances = await siblings.instance_ids() if siblings is not None else []
        return web.Response(body=_events_body(wanted, lines, next_seq, instances), headers=_JSON)

    async def ack_events(request: web.Request) -> web.StreamResponse:
        try:
            instance_id, upto = _parse_ack(await read_body(request, ACK_MAX_BYTES))
        except ValueError as exc:
            return error_json(400, str(exc), "invalid_request_error", "bad_request")
        if siblings is not None and await siblings.folder(instance_id) is not None:
            acked = await siblings.ack(instance_id, upto)
            return web.Response(body=orjson.dumps({"acked": acked}), headers=_JSON)
        if instance_id != outbox.instance_id:
            message = "instance_id does not match this proxy instance"
            return error_json(409, message, "invalid_request_error", "instance_mismatch")
        acked = await outbox.ack(upto)
        return web.Response(body=orjson.dumps({"acked": acked}), headers=_JSON)

    return [
        web.get("/v0/usage/events", authenticated(list_events, accepted_keys)),
        web.post("/v0/usage/ack", authenticated(ack_events, accepted_keys)),
    ]


_JSON = {"Content-Type": "application/json"}


def authenticated(handler: Handler, accepted_keys: Callable[[], Sequence[str]]) -> Handler:
    """`handler` for callers with the collector (or management) key only."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        keys = [key.encode() for key in accepted_keys() if key]
        if not keys:
            message = "Usage API disabled: no collector or management key is configured"
            return _auth_error(message, "no_keys_configured")
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return _auth_error("Missing API key", "missing_api_key")
        if not _matches_any(presented.strip().encode(), keys):
            return _auth_error("Invalid API key", "invalid_api_key")
        return await handler(request)

    return guarded


def _matches_any(presented: bytes, keys: list[bytes]) -> bool:
    # Compare against every key so the time taken does not reveal which one came close.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented, key)
    return matched


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError(f"{name} must be a non-negative integer")
    return int(raw)


def _parse_ack(body: bytes) -> tuple[str, int]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("body must be JSON") from None
    if not isinstance(data, dict):
        raise ValueError('body must be an object {"instance_id", "upto"}')
    instance_id, upto = data.get("instance_id"), data.get("upto")
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError("instance_id must be a non-empty string")
    if not isinstance(upto, int) or isinstance(upto, bool) or upto < 0:
        raise ValueError("upto must be a non-negative integer")
    return instance_id, upto


def _events_body(
    instance_id: str, lines: list[bytes], next_seq: int, instances: list[str]
) -> bytes:
    # The stored lines are already JSON objects: splice them in rather than re-encode them.
    return b"".join(
        (
            b'{"instance_id":',
            orjson.dumps(instance_id),
            b',"events":[',
            b",".join(lines),
            b'],"next":',
            str(next_seq).encode(),
            b',"instances":' + orjson.dumps(instances) if instances else b"",
            b"}",
        )
    )


def _auth_error(message: str, code: str) -> web.Response:
    return error_json(401, message, "authentication_error", code)


def error_json(status: int, message: str, kind: str, code: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), headers=_JSON)
