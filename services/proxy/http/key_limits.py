"""A call run under its client key's limits (docs/limits.md).

Before anything goes upstream: a model the key may not reach is a 403, a spent limit a 429 in
the client's format, and either is recorded as a refused usage event. An admitted call holds a
lease until its response is done or its client left (the `finally`), and its `x-ratelimit-*`
headers join the response when it is prepared, streams included.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ..limits.limiter import Lease, LimitExceeded, ModelNotAllowed
from ..routing.codec_contract import Call, Codec, StreamProcessor, UpstreamRequest
from ..routing.registry import Target
from ..routing.runtime import Runtime
from ..translate.usage import Usage
from .app_objects import EXECUTOR, LIMITER, METRICS

LIMIT_HEADERS = web.RequestKey("limit_headers", dict[str, str])


async def run_call(request: web.Request, call: Call, codec: Codec) -> web.StreamResponse:
    """Admit the call, send it upstream, settle what it used."""
    lease = await _admit(request, call)
    if lease is None:
        return await request.app[EXECUTOR].run(call, codec)
    call.meter = lease
    try:
        return await request.app[EXECUTOR].run(call, _Metered(codec, lease))
    finally:
        lease.close()


class _Metered:
    """The call's codec, showing the lease each stream it relays, so the stream's tokens
    count as the upstream reports them (the executor stays unaware of limits)."""

    def __init__(self, codec: Codec, lease: Lease) -> None:
        self._codec, self._lease = codec, lease
        self.client_fmt = codec.client_fmt

    def build(self, call: Call, target: Target) -> UpstreamRequest:
        return self._codec.build(call, target)

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Usage | None]:
        return self._codec.response(call, target, body)

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        proc = self._codec.stream(call, target)
        self._lease.watch(proc)
        return proc

    def passthrough_errors(self, target: Target) -> bool:
        return self._codec.passthrough_errors(target)


def model_visibility(
    request: web.Request, runtime: Runtime, api_key_id: str
) -> Callable[[str], bool] | None:
    """Whether a model id is one this key may use, for the model lists; None when the key has no
    model rule (every model is listed)."""
    policy = request.app[LIMITER].policy_for(runtime, api_key_id)
    if policy is None or policy.models is None:
        return None
    rule, index = policy.models, runtime.index
    return lambda model_id: bool(rule.filter(index.lookup(model_id) or ()))


def check_model(request: web.Request, call: Call) -> None:
    """The model rule alone, for routes that only count tokens."""
    limiter = request.app[LIMITER]
    policy = limiter.policy(call)
    if policy is not None and policy.models is not None:
        try:
            call.tiers = limiter.check_model(call, policy)
        except ModelNotAllowed as exc:
            _refused(request, call, exc.status, exc.refused)
            raise


async def _admit(request: web.Request, call: Call) -> Lease | None:
    limiter = request.app[LIMITER]
    policy = limiter.policy(call)
    if policy is None:
        return None
    try:
        call.tiers = limiter.check_model(call, policy)
        if call.tiers is None or not policy.counted:
            return None  # an unknown model is the executor's 404; nothing to count
        lease = await limiter.admit(call, policy, call.tiers)
    except (ModelNotAllowed, LimitExceeded) as exc:
        _refused(request, call, exc.status, exc.refused)
        raise
    if lease.headers:
        request[LIMIT_HEADERS] = lease.headers
    return lease


def _refused(request: web.Request, call: Call, status: int, refused: str) -> None:
    request.app[EXECUTOR].recorder.refused(call, status=status, refused=refused)
    request.app[METRICS].limit_refusals.labels(refused).inc()


async def add_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the admitted call's `x-ratelimit-*` headers."""
    headers = request.get(LIMIT_HEADERS)
    if headers:
        response.headers.update(headers)
