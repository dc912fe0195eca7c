"""The JSON shape of usage reports (API answers and the usage page's chart data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.dashboard.usage.collect import FreshnessView
from services.dashboard.usage.history import EventPage, Point, Report, Row
from services.dashboard.usage.queries.events import Event
from services.dashboard.usage.queries.history import Metrics
from services.dashboard.usage.window import Window


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _avg(total: int, count: int) -> float | None:
    return round(total / count, 1) if count else None


def metrics_json(m: Metrics) -> dict[str, Any]:
    return {
        "requests": m.requests,
        "failures": m.failures,
        "successRate": _ratio(m.requests - m.failures, m.requests),
        "errorRate": _ratio(m.failures, m.requests),
        "inputTokens": m.input_tokens,
        "outputTokens": m.output_tokens,
        "cachedTokens": m.cached_tokens,
        "reasoningTokens": m.reasoning_tokens,
        "cacheCreationTokens": m.cache_creation_tokens,
        "totalTokens": m.total_tokens,
        "costUsd": round(float(m.cost_usd), 6),
        "latencyAvgMs": _avg(m.latency_ms_sum, m.latency_count),
        "latencyP95Ms": None if m.p95_ms is None else round(m.p95_ms, 1),
        "latencyMinMs": m.latency_ms_min,
        "latencyMaxMs": m.latency_ms_max,
        "ttftAvgMs": _avg(m.ttft_ms_sum, m.ttft_count),
    }


def _local(at: datetime, window: Window) -> str:
    return at.astimezone(window.zone).isoformat()


def point_json(point: Point, window: Window) -> dict[str, Any]:
    local = point.start.astimezone(window.zone)
    label = local.date().isoformat() if window.bucket == "day" else local.strftime("%Y-%m-%d %H:%M")
    return {"start": local.isoformat(), "label": label, **metrics_json(point.metrics)}


def row_json(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "label": row.label, "provider": row.provider}
    if row.owner is not None or row.revoked:
        out.update(owner=row.owner, revoked=row.revoked)
    if not row.priced:
        out["priced"] = False
    return {**out, **metrics_json(row.metrics)}


def event_json(e: Event, window: Window) -> dict[str, Any]:
    return {
        "eventId": e.event_id,
        "timestamp": _local(e.ts, window),
        "requestId": e.request_id,
        "apiKeyId": e.api_key_id,
        "keyName": e.key_name,
        "userId": e.user_id,
        "username": e.username,
        "provider": e.provider,
        "authType": e.auth_type,
        "credential": e.credential,
        "source": e.source,
        "endpoint": e.endpoint,
        "model": e.model,
        "alias": e.alias,
        "latencyMs": e.latency_ms,
        "ttftMs": e.ttft_ms,
        "stream": e.stream,
        "failed": e.failed,
        "statusCode": e.status_code,
        "tokens": {
            "input": e.input_tokens,
            "output": e.output_tokens,
            "cached": e.cached_tokens,
            "reasoning": e.reasoning_tokens,
            "cacheCreation": e.cache_creation_tokens,
            "total": e.total_tokens,
        },
        "costUsd": round(float(e.cost_usd), 8),
        "reasoningEffort": e.reasoning_effort or None,
        "serviceTier": e.service_tier or None,
        "clientIp": e.client_ip or None,
        "userAgent": e.user_agent or None,
    }


def events_json(page: EventPage, window: Window) -> dict[str, Any]:
    return {"items": [event_json(e, window) for e in page.items], "next": page.next_cursor}


def window_json(window: Window) -> dict[str, Any]:
    return {
        "name": window.name,
        "from": _local(window.start, window),
        "to": _local(window.end, window),
        "tz": window.tz,
        "bucket": window.bucket,
        "approximate": window.approximate,
    }


def freshness_json(view: FreshnessView) -> dict[str, Any]:
    s = view.state
    return {
        "level": view.level,
        "lagSeconds": None if view.lag_seconds is None else round(view.lag_seconds, 1),
        "message": view.message,
        "status": s.status,
        "leaderId": s.leader_id,
        "heartbeatAt": s.heartbeat_at,
        "lastSuccessAt": s.last_success_at,
        "lastError": s.last_error,
        "lastErrorAt": s.last_error_at,
        "wakeRequestedAt": s.wake_requested_at,
        "newestEventAt": s.newest_event_at,
        "collectedAny": s.collected_any,
    }


def report_json(report: Report) -> dict[str, Any]:
    scope = report.scope
    out: dict[str, Any] = {
        "window": window_json(report.window),
        "filters": {
            "userId": scope.user_id,
            "model": scope.model,
            "provider": scope.provider,
            "apiKey": scope.api_key_id,
            "credential": scope.credential,
        },
        "totals": metrics_json(report.totals),
        "series": [point_json(p, report.window) for p in report.series],
        "breakdowns": {
            name: [row_json(r) for r in rows] for name, rows in report.breakdowns.items()
        },
        "unpricedModels": [{"provider": r.provider, "model": r.id} for r in report.unpriced],
    }
    if report.events is not None:
        out["events"] = events_json(report.events, report.window)
    return out
