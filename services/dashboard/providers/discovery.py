"""Model discovery for custom providers: `GET {baseUrl}/models` through the SSRF guard."""

from __future__ import annotations

from typing import Any

from services.core.errors import BadRequest
from services.dashboard.providers.ssrf import UpstreamPolicy, fetch_json

MAX_MODELS = 2000


async def fetch_models(base_url: str, api_key: str, policy: UpstreamPolicy) -> list[str]:
    """Model ids the upstream lists, sorted; BadRequest when refused or unreadable."""
    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    body = await fetch_json(url, headers, policy=policy)
    return _model_ids(body)


def _model_ids(body: Any) -> list[str]:
    items = body.get("data", body.get("models")) if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise BadRequest("the answer has no model list", code="fetch_failed")
    ids = set()
    for item in items[:MAX_MODELS]:
        value = item.get("id", item.get("name")) if isinstance(item, dict) else item
        if isinstance(value, str) and 0 < len(value) <= 200:
            ids.add(value.removeprefix("models/"))
    return sorted(ids)
