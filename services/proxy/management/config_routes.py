"""`GET /config`, `GET|PUT /config.yaml` and the scalar settings (`{"key": v}` / `{"value": x}`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from ruamel.yaml.comments import CommentedMap

from services.core.errors import BadRequest
from services.proxy.config.model import ProxyConfig
from services.proxy.config.store import ConfigStore
from services.proxy.routing.credentials import PROVIDER_LISTS, compat_key_index, provider_key_index

from ..inbound.request_body import read_body
from .bodies import read_object
from .context import ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response
from .yaml_edit import child_map, set_key

log = structlog.get_logger(__name__)

OK = {"status": "ok"}
_STRATEGIES = {
    "": "round-robin",
    "round-robin": "round-robin",
    "roundrobin": "round-robin",
    "rr": "round-robin",
    "fill-first": "fill-first",
    "fillfirst": "fill-first",
    "ff": "fill-first",
    "weighted-round-robin": "weighted-round-robin",
    "weighted": "weighted-round-robin",
    "wrr": "weighted-round-robin",
}


@dataclass(frozen=True, slots=True)
class Scalar:
    """One scalar setting: its YAML path, JSON type and default when the file omits it."""

    path: tuple[str, ...]
    kind: type
    default: Any
    deletable: bool = False

    @property
    def route(self) -> str:
        return "/".join(self.path)

    @property
    def response_key(self) -> str:
        # CLIProxyAPI answers nested settings under their last segment: {"strategy": ...}.
        return self.path[-1]


SCALARS = (
    Scalar(("debug",), bool, False),
    Scalar(("logging-to-file",), bool, False),
    Scalar(("logs-max-total-size-mb",), int, 0),
    Scalar(("error-logs-max-files",), int, 10),
    Scalar(("usage-statistics-enabled",), bool, True),
    Scalar(("request-log",), bool, False),
    Scalar(("request-retry",), int, 3),
    Scalar(("max-retry-credentials",), int, 0),
    Scalar(("max-retry-interval",), float, 30),
    Scalar(("force-model-prefix",), bool, False),
    Scalar(("routing", "strategy"), str, "round-robin"),
    Scalar(("proxy-url",), str, "", deletable=True),
    # Stored and echoed only, for CLIProxyAPI tools that set them (no behaviour here).
    Scalar(("ws-auth",), bool, False),
    Scalar(("quota-exceeded", "switch-project"), bool, False),
    Scalar(("quota-exceeded", "switch-preview-model"), bool, False),
)


def config_as_json(store: ConfigStore) -> dict[str, Any]:
    """The live config with CLIProxyAPI key names; the management secret is never echoed."""
    config = store.current.config
    data = config.model_dump(by_alias=True, mode="json")
    remote = data.get("remote-management")
    if isinstance(remote, dict) and remote.get("secret-key"):
        remote["secret-key"] = "********"
    _add_auth_indexes(config, data)
    return data


def _add_auth_indexes(config: ProxyConfig, data: dict[str, Any]) -> None:
    """Each provider key carries `auth-index`, the id the proxy uses for that credential
    everywhere (usage events, `/auth-files`, `/api-call`), as CLIProxyAPI's answers do."""
    for provider, key in PROVIDER_LISTS.items():
        entries = getattr(config, key.replace("-", "_"))
        for item, entry in zip(data.get(key) or [], entries, strict=False):
            item["auth-index"] = provider_key_index(provider, entry)
    for item, compat in zip(
        data.get("openai-compatibility") or [], config.openai_compatibility, strict=False
    ):
        for sub, key_entry in zip(
            item.get("api-key-entries") or [], compat.api_key_entries, strict=False
        ):
            sub["auth-index"] = compat_key_index(compat, key_entry)


def _lookup(data: dict[str, Any], path: tuple[str, ...], default: Any) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def _checked_value(scalar: Scalar, value: Any) -> Any:
    """The body's value if its JSON type fits the setting (no silent coercion of strings)."""
    kind = scalar.kind
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise BadRequest(f"invalid value for {scalar.route}: expected {kind.__name__}")
    if scalar.path == ("routing", "strategy"):
        normalized = _STRATEGIES.get(value.strip().lower())
        if normalized is None:
            raise BadRequest("invalid strategy")
        return normalized
    if isinstance(value, str):
        return value.strip()
    return value


def _setter(path: tuple[str, ...], value: Any) -> Callable[[CommentedMap], None]:
    def mutate(doc: CommentedMap) -> None:
        node = doc
        for part in path[:-1]:
            node = child_map(node, part)
        set_key(node, path[-1], value)

    return mutate


def _scalar_routes(ctx: ManagementContext, scalar: Scalar) -> list[web.RouteDef]:
    async def get_scalar(_request: web.Request) -> web.Response:
        value = _lookup(config_as_json(ctx.store), scalar.path, scalar.default)
        return json_response({scalar.response_key: value})

    async def put_scalar(request: web.Request) -> web.Response:
        body = await read_object(request, ctx.limits.json_body_max_bytes)
        if "value" not in body:
            raise BadRequest("invalid body: missing value")
        value = _checked_value(scalar, body["value"])
        await ctx.store.edit(_setter(scalar.path, value))
        log.info("management_setting_changed", setting=scalar.route)
        return json_response(OK)

    async def delete_scalar(_request: web.Request) -> web.Response:
        await ctx.store.edit(_setter(scalar.path, scalar.default))
        log.info("management_setting_changed", setting=scalar.route)
        return json_response(OK)

    path = f"{MANAGEMENT_PREFIX}/{scalar.route}"
    routes = [web.get(path, get_scalar), web.put(path, put_scalar), web.patch(path, put_scalar)]
    if scalar.deletable:
        routes.append(web.delete(path, delete_scalar))
    return routes


def config_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    async def get_config(_request: web.Request) -> web.Response:
        return json_response(config_as_json(ctx.store))

    async def get_config_yaml(_request: web.Request) -> web.Response:
        text = await asyncio.to_thread(ctx.store.path.read_text, "utf-8")
        return web.Response(
            text=text,
            content_type="application/yaml",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def put_config_yaml(request: web.Request) -> web.Response:
        raw = await read_body(request, ctx.limits.config_yaml_max_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("invalid_yaml: config.yaml must be UTF-8 text") from None
        await ctx.store.replace_text(text)
        log.info("management_config_replaced", size=len(raw))
        return json_response({"ok": True, "changed": ["config"]})

    routes = [
        web.get(f"{MANAGEMENT_PREFIX}/config", get_config),
        web.get(f"{MANAGEMENT_PREFIX}/config.yaml", get_config_yaml),
        web.put(f"{MANAGEMENT_PREFIX}/config.yaml", put_config_yaml),
    ]
    for scalar in SCALARS:
        routes += _scalar_routes(ctx, scalar)
    return routes
