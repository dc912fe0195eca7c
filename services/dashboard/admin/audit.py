"""The audit log as admins read it: the filter a query string asks for and an entry's JSON.
(Entries are written by accounts/audit.py, for every feature.)"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request

from services.core.errors import ValidationFailed
from services.dashboard.accounts.queries.audit_log import AuditEntry, AuditFilter
from services.dashboard.web.inputs import int_param


def audit_filter(request: Request) -> AuditFilter:
    q = request.query_params

    def when(name: str) -> datetime | None:
        raw = q.get(name)
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ValidationFailed(
                f"{name} must be an ISO date", details=[{"field": name, "message": "invalid date"}]
            ) from exc

    before = int_param(request, "before", 0, 0, 2**62)
    return AuditFilter(
        action=q.get("action") or None,
        actor=q.get("actor") or None,
        target=q.get("target") or None,
        since=when("from"),
        until=when("to"),
        before_id=before or None,
        limit=int_param(request, "limit", 50, 1, 200),
    )


def audit_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "createdAt": entry.created_at,
        "userId": entry.actor_user_id,
        "username": entry.actor_username,
        "action": entry.action,
        "targetType": entry.target_type,
        "target": entry.target,
        "metadata": entry.metadata,
        "ipAddress": entry.ip_address,
    }
