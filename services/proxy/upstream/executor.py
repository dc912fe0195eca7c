"""Sends a call upstream: credential selection, failover, retry rounds, streaming relay.

Failover happens only before the first byte reaches the client; after that a failure is
reported in-stream in the client's format. Every upstream attempt is recorded as a usage
event and feeds the cooldown table. A 400-class input error is returned at once, never fanned
out to other credentials.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

import aiohttp
import structlog
from aiohttp import web

from services.core.errors import NotFound, TooManyRequests, Unavailable
from services.core.logging import redact_text

from ..observability.metrics import Metrics
from ..routing.codec_contract import Call, Codec, StreamProcessor, UpstreamRequest
from ..routing.cooldowns import ALL_MODELS, NETWORK_ERROR, RETRYABLE_STATUSES, Cooldowns
from ..routing.credentials import Credential
from ..routing.registry import Target, Tiers
from ..routing.selector import Selector
from ..translate.errors import error_body, upstream_message
from ..translate.rules import Unsupported
from ..usage.recorder import Recorder
from .deadline import Deadline
from .openai_stream import FrameTooLarge
from .outbound_proxy import ProxyError
from .sessions import AiohttpAnswer, Answer, UpstreamClients

log = structlog.get_logger(__name__)

MAX_ERROR_BODY = 1024 * 1024
MAX_RESPONSE_BODY = 64 * 1024 * 1024
# Statuses that say "this credential can't serve now": try the next one.
_FAILOVER = RETRYABLE_STATUSES | {401, 402, 404, NETWORK_ERROR}
# Statuses that may earn another round over the credentials once every one has failed.
_ROUND_RETRY = RETRYABLE_STATUSES | {NETWORK_ERROR}
_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_KEEPALIVE = b": keep-alive\n\n"


@dataclass(slots=True)
class Failure:
    """An attempt that produced nothing for the client yet."""

    status: int
    body: bytes
    content_type: str
    message: str
    retry_after: float | None
    failover: bool
    target: Target
    code: str = "upstream_error"


# Writes one request error log (blocking; run in a thread).
ErrorLog = Callable[[str, str], object]


class Reauth(Protocol):
    """Token upkeep of OAuth accounts at request time (the oauth layer's refresher)."""

    async def ensure_fresh(self, cred: Credential) -> None:
        """Refresh the account's token first when it is expired or about to be."""
        ...

    async def after_unauthorized(self, cred: Credential, used_token: str) -> bool:
        """The upstream refused `used_token` with a 401: refresh (once, shared with concurrent
        callers); True when a newer token is there to retry with."""
        ...


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _unusable(target: Target) -> bool:
    """An OAuth account whose refresh token was rejected: skipped until it is signed in again."""
    token = target.credential.token
    return token is not None and token.unavailable


class Executor:
    def __init__(
        self,
        upstream: UpstreamClients,
        cooldowns: Cooldowns,
        selector: Selector,
        recorder: Recorder,
        metrics: Metrics,
        error_log: ErrorLog | None = None,
        reauth: Reauth | None = None,
    ) -> None:
        self.upstream = upstream
        self.cooldowns = cooldowns
        self.selector = selector
        self.recorder = recorder
        self.metrics = metrics
        self.error_log = error_log
        self.reauth = reauth
        self._log_tasks: set[asyncio.Task[object]] = set()

    async def run(self, call: Call, codec: Codec) -> web.StreamResponse:
        runtime = call.runtime
        tiers = call.tiers or runtime.index.lookup(call.model)
        if tiers is None:
            if not runtime.credentials:
                raise Unavailable("No upstream credential is configured", code="auth_unavailable")
            raise NotFound(f"The model '{call.model}' does not exist", code="model_not_found")
        config = runtime.config
        call.bootstrap_left = config.streaming.bootstrap_retries
        per_round = config.max_retry_credentials or len(runtime.credentials) or 1
        last: Failure | None = None
        for round_no in range(config.request_retry + 1):
            tried = cooling = 0
            now = time.time()
            for target in self.selector.order(call.model, tiers, config.routing.strategy):
                if tried >= per_round:
                    break
                if _unusable(target):
                    continue
                if self._cooling(call, target, now):
                    cooling += 1
                    continue
                tried += 1
                result = await self._attempt_with_auth(call, codec, target)
                if isinstance(result, web.StreamResponse):
                    return result
                last = result
                if not result.failover:
                    return self._error_response(call, codec, result)
            if last is None:
                if not cooling:
                    raise Unavailable(
                        f"No usable credential for model {call.model}: every account needs "
                        "to be signed in again",
                        code="auth_unavailable",
                    )
                raise self._all_cooling(call, tiers)
            if last.status not in _ROUND_RETRY:
                break
            if round_no == config.request_retry:
                break
            wait = self._next_reset(call, tiers) - time.time()
            if wait > config.max_retry_interval:
                break
            if wait > 0:
                await asyncio.sleep(wait)  # back off until the nearest cooldown ends
        assert last is not None
        return self._error_response(call, codec, last)

    def _cooling(self, call: Call, target: Target, now: float) -> bool:
        if call.runtime.config.disable_cooling or target.credential.disable_cooling:
            return False
        return self.cooldowns.until(target.credential.id, target.upstream_model) > now

    def _next_reset(self, call: Call, tiers: Tiers) -> float:
        untils = [
            self.cooldowns.until(t.credential.id, t.upstream_model) for tier in tiers for t in tier
        ]
        return min(untils) if untils else 0.0

    def _all_cooling(self, call: Call, tiers: Tiers) -> TooManyRequests:
        reset = max(self._next_reset(call, tiers) - time.time(), 1.0)
        seconds = math.ceil(reset)
        provider = tiers[0][0].credential.channel if tiers and tiers[0] else ""
        reset_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        return TooManyRequests(
            f"All credentials for model {call.model} are cooling down; retry in {seconds}s",
            code="model_cooldown",
            headers={"Retry-After": str(seconds)},
            details={
                "model": call.model,
                "reset_time": reset_time,
                "reset_seconds": seconds,
                "provider": provider,
            },
        )

    def _mark(
        self,
        call: Call,
        target: Target,
        status: int,
        retry_after: float | None,
        credential_wide: bool = False,
    ) -> None:
        config = call.runtime.config
        if config.disable_cooling or target.credential.disable_cooling:
            return
        model = ALL_MODELS if credential_wide else target.upstream_model
        self.cooldowns.record_failure(
            target.credential.id, model, status, retry_after, cap=config.max_cooldown_seconds
        )

    def _fail(
        self,
        call: Call,
        target: Target,
        started: float,
        status: int,
        message: str,
        *,
        body: bytes = b"",
        content_type: str = "",
        retry_after: float | None = None,
        failover: bool = True,
        mark: bool = True,
        credential_wide: bool = False,
    ) -> Failure:
        if mark:
            self._mark(call, target, status, retry_after, credential_wide)
        latency = int((time.monotonic() - started) * 1000)
        self.recorder.attempt(
            call,
            target,
            status=status or 502,
            failed=True,
            tokens=None,
            latency_ms=latency,
            ttft_ms=None,
            reason=message,
        )
        self.metrics.upstream_attempt(target.credential.provider, status)
        log.info(
            "upstream_failed",
            request_id=call.request_id,
            auth_index=target.credential.id,
            model=target.upstream_model,
            status=status,
            reason=message[:200],
        )
        return Failure(status, body, content_type, message, retry_after, failover, target)

    async def _attempt_with_auth(
        self, call: Call, codec: Codec, target: Target
    ) -> web.StreamResponse | Failure:
        """An attempt; an OAuth account's token is refreshed first when it has expired, and a
        401 refreshes it once and retries the same account."""
        cred = target.credential
        token, reauth = cred.token, self.reauth
        if token is None or reauth is None:
            return await self._attempt(call, codec, target)
        if token.needs_refresh_before_use(time.time()):
            await reauth.ensure_fresh(cred)
        used = token.access_token
        result = await self._attempt(call, codec, target, reauth=True)
        if isinstance(result, Failure) and result.status == 401:
            if await reauth.after_unauthorized(cred, used):
                return await self._attempt(call, codec, target)
            self._mark(call, target, 401, None)
        return result

    async def _attempt(
        self, call: Call, codec: Codec, target: Target, *, reauth: bool = False
    ) -> web.StreamResponse | Failure:
        runtime = call.runtime
        timeouts = runtime.config.timeouts
        try:
            upstream = codec.build(call, target)
        except Unsupported as exc:
            return self._unsupported(call, target, exc)
        started = time.monotonic()
        deadline = Deadline()  # one timer for every time limit of this attempt
        try:
            try:
                resp = await deadline.within(
                    timeouts.first_byte, self._send(call, target, upstream)
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return self._fail(
                    call,
                    target,
                    started,
                    NETWORK_ERROR,
                    f"upstream unreachable: {_network_error(exc)}",
                )
            except asyncio.CancelledError:
                self._client_gone(call, target, started, None, None)
                raise
            try:
                if 300 <= resp.status < 400:
                    return self._redirected(call, target, started, resp)
                if resp.status != 200:
                    return await self._upstream_error(call, target, started, resp, reauth)
                if call.stream:
                    return await self._relay(call, codec, target, started, resp, deadline)
                return await self._complete(call, codec, target, started, resp)
            finally:
                resp.close()
        finally:
            deadline.close()

    async def _send(self, call: Call, target: Target, upstream: UpstreamRequest) -> Answer:
        """POST upstream; returns at the answer's head. The lean client sends, directly or
        through the credential's outbound proxy, unless it is switched off or does not speak
        that proxy (sessions.UpstreamClients.lean_for); aiohttp sends the rest."""
        runtime = call.runtime
        proxy_url = target.credential.proxy_url
        lean = self.upstream.lean_for(proxy_url) if runtime.config.lean_upstream_client else None
        if lean is not None:
            return await lean.post(
                upstream.url,
                upstream.headers,
                upstream.body,
                connect_timeout=runtime.config.timeouts.connect,
            )
        session, proxy = self.upstream.for_proxy(proxy_url)
        resp = await session.post(
            upstream.url,
            data=upstream.body,
            headers=upstream.headers,
            proxy=proxy,
            timeout=runtime.timeout_stream if call.stream else runtime.timeout_complete,
            allow_redirects=False,
        )
        return AiohttpAnswer(resp)

    def _redirected(self, call: Call, target: Target, started: float, resp: Answer) -> Failure:
        """A 3xx is a broken upstream for us: redirects are never followed (docs/security.md)."""
        # The target host goes to the operator's log only, not to the client.
        log.warning(
            "upstream_redirect_refused",
            request_id=call.request_id,
            auth_index=target.credential.id,
            status=resp.status,
            host=resp.redirect_host(),
        )
        message = (
            f"upstream answered a redirect ({resp.status}); upstream redirects are not followed"
        )
        return self._fail(call, target, started, 502, message)

    def _unsupported(self, call: Call, target: Target, exc: Unsupported) -> Failure:
        """This upstream cannot take the request (nothing was sent): another credential of the
        model may speak a format that can; if none does, the client gets this 400."""
        log.info(
            "request_unsupported",
            request_id=call.request_id,
            auth_index=target.credential.id,
            model=target.upstream_model,
            reason=exc.message[:200],
        )
        return Failure(400, b"", "", exc.message, None, True, target, exc.code)

    async def _upstream_error(
        self,
        call: Call,
        target: Target,
        started: float,
        resp: Answer,
        reauth: bool = False,
    ) -> Failure:
        try:
            body = await resp.read_capped(MAX_ERROR_BODY, call.runtime.config.timeouts.idle)
        except (aiohttp.ClientError, TimeoutError):
            body = b""
        status = resp.status
        adapter = target.credential.adapter
        hint = adapter.failure(status, resp.headers, body) if adapter is not None else None
        message = f"upstream status {status}"
        if hint is not None and hint.reason:
            message += f": {hint.reason}"
        return self._fail(
            call,
            target,
            started,
            status,
            message,
            body=body,
            content_type=resp.content_type,
            retry_after=hint.retry_after if hint is not None else parse_retry_after(resp.headers),
            failover=status in _FAILOVER,
            # A 401 of an OAuth account refreshes its token first (_attempt_with_auth).
            mark=not (reauth and status == 401),
            credential_wide=hint is not None and hint.credential_wide,
        )

    async def _complete(
        self, call: Call, codec: Codec, target: Target, started: float, resp: Answer
    ) -> web.StreamResponse | Failure:
        try:
            data = await resp.read_capped(MAX_RESPONSE_BODY, call.runtime.config.timeouts.idle)
            out, tokens = codec.response(call, target, data)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return self._fail(
                call, target, started, 502, f"bad upstream response: {type(exc).__name__}"
            )
        except asyncio.CancelledError:
            self._client_gone(call, target, started, None, None)
            raise
        self.cooldowns.record_success(target.credential.id, target.upstream_model)
        latency = int((time.monotonic() - started) * 1000)
        self.recorder.attempt(
            call,
            target,
            status=200,
            failed=False,
            tokens=tokens,
            latency_ms=latency,
            ttft_ms=latency,
        )
        self.metrics.upstream_attempt(target.credential.provider, 200)
        return web.Response(
            body=out,
            status=200,
            content_type="application/json",
            headers={"X-Request-Id": call.request_id},
        )

    def _client_gone(
        self,
        call: Call,
        target: Target,
        started: float,
        proc: StreamProcessor | None,
        ttft: int | None,
    ) -> None:
        latency = int((time.monotonic() - started) * 1000)
        self.recorder.attempt(
            call,
            target,
            status=499,
            failed=True,
            tokens=proc.tokens if proc else None,
            latency_ms=latency,
            ttft_ms=ttft,
            reason="client disconnected",
        )
        self.metrics.upstream_attempt(target.credential.provider, 499)

    async def _first_output(self, proc: StreamProcessor, resp: Answer) -> tuple[bytes | None, bool]:
        """Read until the processor yields client bytes (None when the stream ends first);
        and whether the processor was finished (the upstream's stream ended, nothing to read)."""
        while True:
            chunk = await resp.readany()
            if not chunk:
                tail = proc.finish()
                return tail or None, True
            out = proc.feed(chunk)
            if out:
                if resp.ended:
                    return out + proc.finish(), True
                return out, False

    async def _relay(
        self,
        call: Call,
        codec: Codec,
        target: Target,
        started: float,
        resp: Answer,
        deadline: Deadline,
    ) -> web.StreamResponse | Failure:
        config = call.runtime.config
        proc = codec.stream(call, target)
        try:
            first, finished = await deadline.within(
                config.timeouts.first_byte, self._first_output(proc, resp)
            )
        except (aiohttp.ClientError, TimeoutError, FrameTooLarge) as exc:
            first, finished, reason = None, True, type(exc).__name__
        except asyncio.CancelledError:
            self._client_gone(call, target, started, proc, None)
            raise
        else:
            reason = "stream ended before any data"
        if first is None:
            failover = call.bootstrap_left > 0
            call.bootstrap_left -= 1
            return self._fail(
                call, target, started, 502, f"bootstrap failed: {reason}", failover=failover
            )
        ttft = int((time.monotonic() - started) * 1000)
        reply = web.StreamResponse(
            status=200, headers={**_SSE_HEADERS, "X-Request-Id": call.request_id}
        )
        try:
            start = getattr(call.request, "start_stream", None)  # the fast lane's (FastRequest)
            await (start(reply) if start is not None else reply.prepare(call.request))
            if finished:  # the whole stream came with the first output: nothing to read
                failure, last = None, first
            else:
                await reply.write(first)
                failure, last = await self._pump(call, proc, resp, reply, deadline)
            if failure is None and not proc.done:
                failure = "upstream stream ended early"
            if failure is not None:
                last += proc.error(failure, 502)
            await reply.write_eof(last)  # the last bytes and the chunked end in one write
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            self._client_gone(call, target, started, proc, ttft)
            return reply
        except asyncio.CancelledError:
            self._client_gone(call, target, started, proc, ttft)
            raise
        latency = int((time.monotonic() - started) * 1000)
        if failure is None:
            self.cooldowns.record_success(target.credential.id, target.upstream_model)
        self.recorder.attempt(
            call,
            target,
            status=200 if failure is None else 502,
            failed=failure is not None,
            tokens=proc.tokens,
            latency_ms=latency,
            ttft_ms=ttft,
            reason=failure,
        )
        self.metrics.upstream_attempt(target.credential.provider, 200 if failure is None else 502)
        self.metrics.ttft(ttft / 1000)
        return reply

    async def _pump(
        self,
        call: Call,
        proc: StreamProcessor,
        resp: Answer,
        reply: web.StreamResponse,
        deadline: Deadline,
    ) -> tuple[str | None, bytes]:
        """Relay chunks until upstream EOF; returns why the stream failed (or None) and the
        bytes still to write: those that came with the upstream's end go with the client's."""
        config = call.runtime.config
        keepalive = config.streaming.keepalive_seconds
        idle = config.timeouts.idle
        wait = min(keepalive, idle) if keepalive > 0 else idle
        loop = asyncio.get_running_loop()
        last_data = loop.time()
        while True:
            try:
                chunk = await deadline.within(wait, resp.readany())
            except TimeoutError:
                if loop.time() - last_data >= idle:
                    return "upstream idle timeout", b""
                await reply.write(_KEEPALIVE)
                continue
            except (aiohttp.ClientError, FrameTooLarge) as exc:
                return f"upstream stream broke: {type(exc).__name__}", b""
            if not chunk:
                return None, proc.finish()
            last_data = loop.time()
            try:
                out = proc.feed(chunk)
            except FrameTooLarge:
                return "upstream frame too large", b""
            if resp.ended:
                return None, out + proc.finish()
            if out:
                await reply.write(out)

    def _write_error_log(self, call: Call, failure: Failure, status: int) -> None:
        """Keep a bounded record of a request that failed (off the event loop, fire and forget)."""
        if self.error_log is None:
            return
        text = "\n".join(
            [
                "=== REQUEST INFO ===",
                f"request_id: {call.request_id}",
                f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
                f"endpoint: {call.endpoint}",
                f"model: {call.model}",
                f"client_ip: {call.request.remote or ''}",
                "=== UPSTREAM ===",
                f"auth_index: {failure.target.credential.id}",
                f"provider: {failure.target.credential.channel}",
                f"upstream_model: {failure.target.upstream_model}",
                "=== RESPONSE ===",
                f"status: {status}",
                f"message: {failure.message}",
                redact_text(failure.body[:8192].decode("utf-8", "replace")),
                "",
            ]
        )
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self.error_log, call.request_id, text)
        )
        self._log_tasks.add(task)
        task.add_done_callback(self._log_tasks.discard)

    def _error_response(self, call: Call, codec: Codec, failure: Failure) -> web.Response:
        status = failure.status if failure.status >= 400 else 502
        self._write_error_log(call, failure, status)
        headers = {"X-Request-Id": call.request_id}
        if failure.retry_after is not None and status == 429:
            headers["Retry-After"] = str(math.ceil(failure.retry_after))
        json_body = bool(failure.body) and "json" in failure.content_type
        if json_body and codec.passthrough_errors(failure.target):
            return web.Response(
                body=failure.body, status=status, content_type="application/json", headers=headers
            )
        message = failure.message if failure.status else "upstream unreachable"
        if json_body:
            message = upstream_message(failure.body) or message
        return web.Response(
            body=error_body(call.client_fmt, status, message, failure.code),
            status=status,
            content_type="application/json",
            headers=headers,
        )


def _network_error(exc: BaseException) -> str:
    """What a failed send says in logs and usage events: the error's type, and for the outbound
    proxy's errors their message too (which proxy, which reply), written never to hold the
    proxy's credentials."""
    if isinstance(exc, ProxyError):
        return f"{type(exc).__name__} ({exc})"
    return type(exc).__name__
