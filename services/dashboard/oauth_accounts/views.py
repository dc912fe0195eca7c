"""An auth file as a given viewer may see it: in full (owner, admin) or anonymised."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.dashboard.oauth_accounts.queries.owners import Owner


@dataclass(frozen=True, slots=True)
class AccountView:
    name: str | None  # None when anonymised: the file name carries the e-mail
    provider: str
    email: str
    is_own: bool
    owner: str | None  # shown to admins
    auth_index: str | None
    state: str  # active | cooling | refresh_failed | disabled
    message: str
    cooling_until: str | None
    priority: int
    prefix: str
    note: str


def mask_email(email: str) -> str:
    """`a***@example.com`: enough to tell accounts apart, not enough to name the person."""
    local, at, domain = email.partition("@")
    if not at:
        return (email[:1] + "***") if email else "***"
    return f"{local[:1]}***@{domain}"


def state_of(entry: dict[str, Any], now: datetime | None = None) -> tuple[str, str, str | None]:
    """(state, why, cooling until) from the proxy's listing entry."""
    message = str(entry.get("status_message") or "")
    if entry.get("disabled") is True or entry.get("status") == "disabled":
        return "disabled", message, None
    until = _future(entry.get("next_retry_after"), now or datetime.now(UTC))
    if until:
        return "cooling", message or "rate limited by the provider", until
    if entry.get("status") == "error":
        return "refresh_failed", message or "the provider refused the refresh token", None
    return "active", message, None


def _future(value: Any, now: datetime) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if at > now else None


def view(entry: dict[str, Any], owner: Owner | None, viewer_id: int, is_admin: bool) -> AccountView:
    own = owner is not None and owner.user_id == viewer_id
    full = own or is_admin
    email = str(entry.get("email") or "")
    state, message, until = state_of(entry)
    return AccountView(
        name=str(entry["name"]) if full else None,
        provider=str(entry.get("type") or entry.get("provider") or ""),
        email=email if full else mask_email(email),
        is_own=own,
        owner=owner.username if owner and is_admin else None,
        auth_index=str(entry.get("auth_index") or "") if full else None,
        state=state,
        message=message if full else "",
        cooling_until=until,
        priority=int(entry.get("priority") or 0) if full else 0,
        prefix=str(entry.get("prefix") or "") if full else "",
        note=str(entry.get("note") or "") if full else "",
    )


def to_json(v: AccountView) -> dict[str, Any]:
    return {
        "name": v.name,
        "provider": v.provider,
        "email": v.email,
        "isOwn": v.is_own,
        "owner": v.owner,
        "authIndex": v.auth_index,
        "state": v.state,
        "message": v.message,
        "coolingUntil": v.cooling_until,
        "priority": v.priority,
        "prefix": v.prefix,
        "note": v.note,
    }
