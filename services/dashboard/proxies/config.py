"""Proxy settings editor (D10): routing, retries, streaming, logging and limits.

Values are validated here, previewed as YAML, and written into each proxy's `config.yaml` with a
round-trip YAML edit (comments, key order and every other key are kept); the proxy validates
the file again and applies it live.
"""

from __future__ import annotations

import io
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from services.core.db import Pool
from services.core.errors import ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.proxies.client import ManagementClient
from services.dashboard.proxies.sync import ProxySync, config_lock


class ProxySettings(BaseModel):
    """The editable subset of `config.yaml`; field aliases are the YAML paths."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    routing_strategy: Literal["round-robin", "fill-first", "weighted-round-robin"] = Field(
        "round-robin", alias="routing.strategy"
    )
    request_retry: int = Field(3, ge=0, le=10, alias="request-retry")
    max_retry_credentials: int = Field(0, ge=0, le=100, alias="max-retry-credentials")
    max_retry_interval: float = Field(30, ge=0, le=3600, alias="max-retry-interval")
    disable_cooling: bool = Field(False, alias="disable-cooling")
    keepalive_seconds: float = Field(15, ge=0, le=300, alias="streaming.keepalive-seconds")
    bootstrap_retries: int = Field(1, ge=0, le=10, alias="streaming.bootstrap-retries")
    debug: bool = False
    logging_to_file: bool = Field(False, alias="logging-to-file")
    request_log: bool = Field(False, alias="request-log")
    usage_statistics_enabled: bool = Field(True, alias="usage-statistics-enabled")
    logs_max_total_size_mb: int = Field(0, ge=0, le=100_000, alias="logs-max-total-size-mb")
    error_logs_max_files: int = Field(10, ge=0, le=1000, alias="error-logs-max-files")
    request_body_limit_mb: float = Field(32, gt=0, le=1024, alias="request-body-limit-mb")
    force_model_prefix: bool = Field(False, alias="force-model-prefix")
    proxy_url: str = Field(
        "",
        max_length=500,
        pattern=r"^$|^(https?|socks5h?)://\S+$|^(direct|none)$",
        alias="proxy-url",
    )


PATHS = {name: field.alias or name for name, field in ProxySettings.model_fields.items()}


def parse(data: dict[str, Any]) -> ProxySettings:
    """Validate submitted values (keys are YAML paths); ValidationFailed lists every bad field."""
    try:
        return ProxySettings.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        raise ValidationFailed("some settings are invalid", details=details) from exc


def from_config(config: dict[str, Any]) -> ProxySettings:
    """Current values from the proxy's `GET /config` (defaults for what it does not set)."""
    values = {}
    for path in PATHS.values():
        node: Any = config
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            values[path] = node
    try:
        return ProxySettings.model_validate(values)
    except ValidationError:  # an odd value in the file: show defaults for the bad ones
        good = {k: v for k, v in values.items() if _valid_one(k, v)}
        return ProxySettings.model_validate(good)


def _valid_one(path: str, value: Any) -> bool:
    try:
        ProxySettings.model_validate({path: value})
    except ValidationError:
        return False
    return True


def as_tree(settings: ProxySettings) -> dict[str, Any]:
    """The settings as nested YAML mappings (`routing: {strategy: ...}`)."""
    tree: dict[str, Any] = {}
    for path, value in settings.model_dump(by_alias=True).items():
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def preview(settings: ProxySettings) -> str:
    """The YAML these settings write into `config.yaml`."""
    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(as_tree(settings), out)
    return out.getvalue()


def merge_into(text: str, settings: ProxySettings) -> str:
    """`text` with these settings set, everything else (comments included) left as it was."""
    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(text) or CommentedMap()
    if not isinstance(doc, dict):
        raise ValidationFailed("the proxy's config.yaml is not a mapping")
    _merge(doc, as_tree(settings))
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _merge(target: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            child = target.get(key)
            if not isinstance(child, dict):
                child = CommentedMap()
                target[key] = child
            _merge(child, value)
        else:
            target[key] = value


async def read(sync: ProxySync) -> ProxySettings:
    return from_config(await sync.client.get_config(sync.client.first))


async def save(pool: Pool, sync: ProxySync, actor: Actor, settings: ProxySettings) -> None:
    """Write to every proxy (all or none), then audit what changed."""
    async with config_lock(pool) as conn:
        before = await read(sync)
        await sync.client.update_config_yaml(lambda text: merge_into(text, settings))
        changed = {
            PATHS[name]: value
            for name, value in settings.model_dump().items()
            if getattr(before, name) != value
        }
        await audit.record(
            conn, actor, "PROXY_SETTINGS_CHANGED", "proxy_config", "config.yaml", changed=changed
        )


async def copy_settings(client: ManagementClient, peer: str, url: str) -> None:
    """Give the replica at `url` the editable settings of `peer` (a new replica's seeding)."""
    settings = from_config(await client.get_config(peer))
    text = await client.get_config_yaml(url)
    merged = merge_into(text, settings)
    if merged != text:
        await client.put_config_yaml(url, merged)
