"""Jinja2 set-up (autoescape on) and the one helper pages render through."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from services.dashboard.web import flash, formatting, wording

NAV = [
    ("overview", "Overview", "/dashboard", False),
    ("usage", "Usage", "/dashboard/usage", False),
    ("api-keys", "API keys", "/dashboard/api-keys", False),
    ("providers", "Providers", "/dashboard/providers", False),
    ("oauth", "OAuth accounts", "/dashboard/oauth", False),
    ("quota", "Quota", "/dashboard/quota", False),
    ("settings", "Settings", "/dashboard/settings", False),
    ("config", "Proxy settings", "/dashboard/config", True),
    ("aliases", "Model aliases", "/dashboard/model-aliases", True),
    ("users", "Users", "/dashboard/users", True),
    ("key-limits", "Key limits", "/dashboard/key-limits", True),
    ("audit", "Audit log", "/dashboard/audit", True),
    ("pricing", "Model pricing", "/dashboard/pricing", True),
    ("monitoring", "Monitoring", "/dashboard/monitoring", True),
    ("containers", "Containers", "/dashboard/containers", True),
    ("updates", "Updates", "/dashboard/updates", True),
    ("logs", "Logs", "/dashboard/logs", True),
]


def build(template_dirs: Sequence[Path], static_dir: Path) -> Jinja2Templates:
    """The environment over every package's templates folder (names are unique across them)."""
    templates = Jinja2Templates(directory=list(template_dirs))
    env = templates.env
    env.autoescape = True
    versions: dict[str, str] = {}

    def static(path: str) -> str:
        """URL of a static file with a content hash, so browsers refetch after an upgrade."""
        if path not in versions:
            file = static_dir / path
            data = file.read_bytes() if file.is_file() else b""
            versions[path] = hashlib.sha256(data).hexdigest()[:10]
        return f"/static/{path}?v={versions[path]}"

    env.globals["static"] = static
    env.globals["nav"] = NAV
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters.update(formatting.FILTERS)
    env.filters["plural"] = wording.plural
    return templates


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: object | None,  # the signed-in accounts.User, shown by the shell
    active: str = "",
    status: int = 200,
) -> Response:
    """Render a page with the shell's context (user, navigation, flash messages)."""
    templates: Jinja2Templates = request.app.state.templates
    messages = flash.read(request) + context.pop("messages", [])
    full = {"user": user, "active": active, "messages": messages, **context}
    response = templates.TemplateResponse(request, template, full, status_code=status)
    if request.cookies.get(flash.COOKIE):
        flash.clear(response)
    return response
