"""What the Updates page and API share: the deployer of the app, the checks of both images,
and the webhook call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request

from services.core.errors import AppError, BadRequest, PayloadTooLarge, Unauthorized
from services.dashboard.accounts import audit, guard
from services.dashboard.containers import stack
from services.dashboard.containers.engine import DockerLink
from services.dashboard.updates import check, webhook
from services.dashboard.updates.check import ImageStatus
from services.dashboard.updates.deploy import Deployer
from services.dashboard.updates.queries import webhook_signatures
from services.dashboard.web import deps, rate_limit

WEBHOOK_LIMIT = rate_limit.Limit("deploy-webhook", 20, 60)
DASHBOARD_SERVICE = "dashboard"


@dataclass(frozen=True, slots=True)
class Checks:
    gateway: ImageStatus | None
    dashboard_image: ImageStatus | None
    version: str
    problem: str | None  # why nothing could be checked (no Docker access)


def deployer(request: Request) -> Deployer:
    value = request.app.state.deployer
    assert isinstance(value, Deployer)
    return value


async def checks(link: DockerLink) -> Checks:
    version = check.dashboard_version()
    try:
        gateway, dashboard = await link.run(lambda c: _both(c, link.project))
    except AppError as exc:
        return Checks(None, None, version, exc.message)
    return Checks(gateway, dashboard, version, None)


def _both(client: Any, project: str) -> tuple[ImageStatus, ImageStatus | None]:
    gateway = check.image_status(client, project)
    if not stack.of_service(client, project, DASHBOARD_SERVICE):
        return gateway, None
    return gateway, check.image_status(client, project, DASHBOARD_SERVICE)


async def webhook_deploy(request: Request) -> int:
    """Verify a webhook call and start its deploy; refusals are audited and raise."""
    secret = deps.settings(request).deploy_secret
    if secret is None or not secret.get_secret_value():
        raise HTTPException(404)  # without DEPLOY_SECRET the route does not exist
    pool = deps.pool(request)
    await rate_limit.enforce(pool, WEBHOOK_LIMIT, f"ip:{deps.client_ip(request)}")
    body = await request.body()
    if len(body) > webhook.MAX_BODY:
        raise PayloadTooLarge(f"the webhook body is capped at {webhook.MAX_BODY} bytes")
    verdict = webhook.verify(
        secret.get_secret_value(),
        request.headers.get(webhook.TIMESTAMP_HEADER),
        request.headers.get(webhook.SIGNATURE_HEADER),
        body,
    )
    if verdict.ok:
        async with pool.connection() as conn:
            fresh = await webhook_signatures.first_use(
                conn, webhook.fingerprint(verdict.signature), webhook.WINDOW_S
            )
        if not fresh:
            verdict = webhook.Verdict(False, "replayed")
    if not verdict.ok:
        await _refused(request, verdict.reason)
    tag = _tag(body)
    return await deployer(request).start("webhook", guard.actor(request, None), tag)


async def _refused(request: Request, reason: str) -> None:
    async with deps.pool(request).connection() as conn:
        await audit.record(
            conn, guard.actor(request, None), "DEPLOY_WEBHOOK_REFUSED", "deploy", None,
            username="webhook", reason=reason,
        )  # fmt: skip
    messages = {
        "unsigned": "sign the call: X-Deploy-Timestamp and X-Deploy-Signature are required",
        "stale": "the timestamp is more than 5 minutes from the server's clock",
        "bad_signature": "the signature does not match the body",
        "replayed": "this signed call was already used",
    }
    raise Unauthorized(messages[reason], code=f"webhook_{reason}")


def _tag(body: bytes) -> str | None:
    """`{"tag": "..."}` picks another tag of the same image; an empty body keeps the tag."""
    if not body.strip():
        return None
    if b"\x00" in body or b"\\u0000" in body:
        raise BadRequest("the body contains a NUL character", code="invalid_input")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("the body is not valid JSON", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    tag = data.get("tag")
    return None if tag in (None, "") else check.check_tag(tag)
