"""Pydantic model of `config.yaml`, using CLIProxyAPI's key names for the subset we support.

Unknown keys are kept (extra="allow") so an operator's file survives a round trip; the loader
warns about them. Our own additions are marked "(ours)".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .host_overrides import check_origin

# The local callback port of each OAuth login with a redirect, by auth-file type (the ports the
# providers registered; `oauth-callback-ports` moves only our listener, never the redirect URI).
DEFAULT_CALLBACK_PORTS: dict[str, int] = {
    "claude": 54545,
    "codex": 1455,
    "antigravity": 51121,
    "gemini": 8085,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class ModelMapping(_Section):
    """One upstream model a credential serves, optionally exposed under an alias."""

    name: str
    alias: str = ""


class ApiKeyEntry(_Section):
    """One key of an OpenAI-compatible provider; each entry is a separate credential."""

    api_key: str = Field(alias="api-key")
    proxy_url: str = Field("", alias="proxy-url")
    weight: int = Field(1, ge=0)


class OpenAICompatibility(_Section):
    name: str
    base_url: str = Field(alias="base-url")
    api_key_entries: list[ApiKeyEntry] = Field(default_factory=list, alias="api-key-entries")
    models: list[ModelMapping] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    prefix: str = ""
    excluded_models: list[str] = Field(default_factory=list, alias="excluded-models")
    priority: int = 0
    disabled: bool = False
    disable_cooling: bool = Field(False, alias="disable-cooling")


class ProviderKey(_Section):
    """An entry of `claude-api-key`, `gemini-api-key`, `codex-api-key` or `vertex-api-key`."""

    api_key: str = Field(alias="api-key")
    base_url: str = Field("", alias="base-url")
    proxy_url: str = Field("", alias="proxy-url")
    prefix: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    models: list[ModelMapping] = Field(default_factory=list)
    excluded_models: list[str] = Field(default_factory=list, alias="excluded-models")
    priority: int = 0
    weight: int = Field(1, ge=0)
    disable_cooling: bool = Field(False, alias="disable-cooling")


class OAuthAlias(_Section):
    name: str
    alias: str
    fork: bool = False
    force_mapping: bool = Field(False, alias="force-mapping")


class Routing(_Section):
    strategy: Literal["round-robin", "fill-first", "weighted-round-robin"] = "round-robin"


class Streaming(_Section):
    keepalive_seconds: float = Field(15.0, alias="keepalive-seconds", ge=0)
    bootstrap_retries: int = Field(1, alias="bootstrap-retries", ge=0)


class Timeouts(_Section):
    """Upstream timeouts in seconds (ours)."""

    connect: float = Field(10.0, gt=0)
    first_byte: float = Field(300.0, alias="first-byte", gt=0)
    idle: float = Field(300.0, gt=0)


class RemoteManagement(_Section):
    allow_remote: bool = Field(False, alias="allow-remote")
    secret_key: str = Field("", alias="secret-key")
    # The Management Center page at /management.html (see management/control_panel.py).
    disable_control_panel: bool = Field(False, alias="disable-control-panel")
    panel_github_repository: str = Field("", alias="panel-github-repository")
    disable_auto_update_panel: bool = Field(False, alias="disable-auto-update-panel")


class KeyLimits(_Section):
    """The limits of one client key (ours): an entry of `api-key-limits`; 0 means no limit.

    See docs/limits.md: requests and tokens per sliding minute, requests in flight, the
    upstream models the key may reach (fnmatch patterns, or a public model id standing for the
    models it resolves to), and budgets in USD per UTC day and month. Unknown fields are
    refused: a misspelt limit must not silently leave a key unlimited."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    requests_per_minute: int = Field(0, alias="requests-per-minute", ge=0)
    tokens_per_minute: int = Field(0, alias="tokens-per-minute", ge=0)
    concurrent_requests: int = Field(0, alias="concurrent-requests", ge=0)
    allowed_models: list[str] = Field(default_factory=list, alias="allowed-models")
    daily_budget_usd: float = Field(0.0, alias="daily-budget-usd", ge=0)
    monthly_budget_usd: float = Field(0.0, alias="monthly-budget-usd", ge=0)

    @field_validator("allowed_models", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            return value
        # Blanks are dropped; anything but a string is left for validation to refuse.
        stripped = [v.strip() if isinstance(v, str) else v for v in value]
        return [v for v in stripped if v != ""]

    @property
    def empty(self) -> bool:
        """True when the entry limits nothing."""
        return not (
            self.requests_per_minute
            or self.tokens_per_minute
            or self.concurrent_requests
            or self.allowed_models
            or self.daily_budget_usd
            or self.monthly_budget_usd
        )


_STORE_SCHEMES = ("redis://", "rediss://", "unix://")


class ProxyConfig(_Section):
    """The whole of `config.yaml`."""

    host: str = "127.0.0.1"
    port: int = Field(8317, ge=1, le=65535)
    # (ours) Worker processes sharing the port through SO_REUSEPORT (docs/workers.md); read at
    # start only. PROXY_WORKERS overrides it.
    workers: int = Field(1, ge=1, le=64)
    auth_dir: str = Field("", alias="auth-dir")
    # Folders of ours; empty means a sibling of config.yaml with that name.
    usage_dir: str = Field("", alias="usage-dir")
    state_dir: str = Field("", alias="state-dir")
    logs_dir: str = Field("", alias="logs-dir")

    api_keys: list[str] = Field(default_factory=list, alias="api-keys")
    # Per-key limits (ours), keyed like `api-keys` entries (`sha256:<hex>` or the key itself);
    # "*" applies to every key without an entry of its own. A separate map, so `api-keys`
    # stays the list of strings CLIProxyAPI and the Management Center expect.
    api_key_limits: dict[str, KeyLimits] = Field(default_factory=dict, alias="api-key-limits")
    # The shared store of the limits' counters (ours): empty keeps them in this process.
    limits_store: str = Field("", alias="limits-store")
    openai_compatibility: list[OpenAICompatibility] = Field(
        default_factory=list, alias="openai-compatibility"
    )
    claude_api_key: list[ProviderKey] = Field(default_factory=list, alias="claude-api-key")
    gemini_api_key: list[ProviderKey] = Field(default_factory=list, alias="gemini-api-key")
    codex_api_key: list[ProviderKey] = Field(default_factory=list, alias="codex-api-key")
    # Vertex AI's Gemini API with an API key ("express mode"); spoken like Gemini.
    vertex_api_key: list[ProviderKey] = Field(default_factory=list, alias="vertex-api-key")
    oauth_excluded_models: dict[str, list[str]] = Field(
        default_factory=dict, alias="oauth-excluded-models"
    )
    oauth_model_alias: dict[str, list[OAuthAlias]] = Field(
        default_factory=dict, alias="oauth-model-alias"
    )

    routing: Routing = Field(default_factory=Routing)
    request_retry: int = Field(3, alias="request-retry", ge=0)
    max_retry_credentials: int = Field(0, alias="max-retry-credentials", ge=0)
    max_retry_interval: float = Field(30.0, alias="max-retry-interval", ge=0)
    disable_cooling: bool = Field(False, alias="disable-cooling")
    streaming: Streaming = Field(default_factory=Streaming)
    force_model_prefix: bool = Field(False, alias="force-model-prefix")
    proxy_url: str = Field("", alias="proxy-url")
    request_body_limit_mb: float = Field(32.0, alias="request-body-limit-mb", gt=0)
    # Real clients nest 10-12 levels. The ceiling keeps every closing-bracket run the proxy
    # serialises far below what overflowed orjson 3.11.x (~128), whatever version is installed.
    request_json_depth_limit: int = Field(64, alias="request-json-depth-limit", ge=16, le=100)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    # (ours) direct inference requests go through the lean HTTP/1.1 client (upstream/
    # lean_client.py); false sends them through aiohttp like everything else.
    lean_upstream_client: bool = Field(True, alias="lean-upstream-client")
    # (ours) the server's fast lane for the inference routes (http/fast_lane.py), checked per
    # new connection; false serves every request through aiohttp's server.
    fast_lane: bool = Field(True, alias="fast-lane")

    remote_management: RemoteManagement = Field(
        default_factory=RemoteManagement, alias="remote-management"
    )
    debug: bool = False
    logging_to_file: bool = Field(False, alias="logging-to-file")
    logs_max_total_size_mb: int = Field(0, alias="logs-max-total-size-mb", ge=0)
    error_logs_max_files: int = Field(10, alias="error-logs-max-files", ge=0)
    usage_statistics_enabled: bool = Field(True, alias="usage-statistics-enabled")
    request_log: bool = Field(False, alias="request-log")
    usage_outbox_max_mb: float = Field(512.0, alias="usage-outbox-max-mb", gt=0)
    latest_version: str = Field("", alias="latest-version")

    # OAuth accounts (docs/oauth.md).
    upstream_host_overrides: dict[str, str] = Field(
        default_factory=dict, alias="upstream-host-overrides"
    )  # (ours) real origin -> replacement origin, for every outbound request
    oauth_callback_ports: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_CALLBACK_PORTS), alias="oauth-callback-ports"
    )  # (ours) where each login's callback forwarder listens
    max_cooldown_seconds: float = Field(1800.0, alias="max-cooldown-seconds", gt=0)  # (ours)
    auth_auto_refresh_workers: int = Field(16, alias="auth-auto-refresh-workers", ge=1)

    @field_validator("upstream_host_overrides", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            for real, replacement in value.items():
                check_origin(str(real))
                check_origin(str(replacement))
        return value

    @field_validator("oauth_callback_ports", mode="before")
    @classmethod
    def _ports(cls, value: Any) -> Any:
        """Types not named keep their default port."""
        if value is None:
            return dict(DEFAULT_CALLBACK_PORTS)
        if isinstance(value, dict):
            for kind, port in value.items():
                if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                    raise ValueError(f"port of {kind!r} must be an integer from 1 to 65535")
            return {**DEFAULT_CALLBACK_PORTS, **{str(k).lower(): v for k, v in value.items()}}
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_are_strings(cls, value: Any) -> Any:
        if value is None:
            return []
        return value

    @field_validator("api_key_limits", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("limits_store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(_STORE_SCHEMES):
            raise ValueError("limits-store must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator(
        "openai_compatibility",
        "claude_api_key",
        "gemini_api_key",
        "codex_api_key",
        "vertex_api_key",
        mode="before",
    )
    @classmethod
    def _none_is_empty_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def body_limit_bytes(self) -> int:
        return int(self.request_body_limit_mb * 1024 * 1024)
