"""A small fake of the proxy's management API (and `/healthz`, `/v1/models`) for dashboard tests.

It keeps the config in memory, checks the management key like the real proxy, speaks the
CLIProxyAPI shapes (`{"<name>": value}` on GET, whole values on PUT, `{"value": x}` for
scalars) and can be told to refuse writes, so sync, rollback and fan-out can be tested.
Runs in its own thread and event loop, so synchronous TestClient tests can use it.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import threading
from typing import Any

from aiohttp import web
from ruamel.yaml import YAML

from services.proxy.observability.metrics import Metrics
from tests.conftest import free_port

LISTS = (
    "api-keys",
    "claude-api-key",
    "gemini-api-key",
    "codex-api-key",
    "openai-compatibility",
)
MAPS = ("oauth-model-alias", "oauth-excluded-models", "api-key-limits")
SCALARS = {
    "debug": "debug",
    "logging-to-file": "logging-to-file",
    "request-retry": "request-retry",
    "max-retry-credentials": "max-retry-credentials",
    "max-retry-interval": "max-retry-interval",
    "request-log": "request-log",
    "force-model-prefix": "force-model-prefix",
    "routing/strategy": "routing.strategy",
    "proxy-url": "proxy-url",
}
STRATEGIES = {"round-robin", "fill-first", "weighted-round-robin"}


def default_config() -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": 8317,
        "api-keys": [],
        "claude-api-key": [],
        "gemini-api-key": [],
        "codex-api-key": [],
        "openai-compatibility": [],
        "oauth-model-alias": {},
        "oauth-excluded-models": {},
        "api-key-limits": {},
        "routing": {"strategy": "round-robin"},
        "request-retry": 3,
        "max-retry-credentials": 0,
        "max-retry-interval": 30,
        "streaming": {"keepalive-seconds": 15, "bootstrap-retries": 1},
        "debug": False,
        "logging-to-file": False,
        "request-log": False,
        "usage-statistics-enabled": True,
        "request-body-limit-mb": 32,
    }


class FakeManagementAPI:
    """One fake proxy replica. `fail_writes` makes every PUT answer 500."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.config: dict[str, Any] = default_config()
        self.fail_writes = False
        self.healthy = True
        self.writes: list[str] = []
        # GET /auth-files entries as the proxy describes them (name, status_message, ...).
        self.auth_files: list[dict[str, Any]] = []
        # /metrics in the proxy's own format (its Metrics class); tests count requests into it
        # and set the gauges (usage_outbox_depth_events, cooldowns_active, credentials...).
        self.metrics = Metrics()
        self.gauges: dict[str, float] = {}
        self.metrics.add_gauges(lambda: dict(self.gauges))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    def start(self) -> FakeManagementAPI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def snapshot(self, name: str) -> Any:
        with self._lock:
            return copy.deepcopy(self.config.get(name))

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/v0/management/config", self._get_config)
        app.router.add_get("/v0/management/config.yaml", self._get_yaml)
        app.router.add_put("/v0/management/config.yaml", self._put_yaml)
        app.router.add_get("/v0/management/auth-files", self._auth_files)
        app.router.add_route("*", "/v0/management/{name:.+}", self._value)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def _authorized(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return self.key in {bearer, request.headers.get("X-Management-Key", "")}

    def _guard(self, request: web.Request) -> web.Response | None:
        if not self.healthy:
            return web.json_response({"error": "unavailable"}, status=503)
        if not self._authorized(request):
            return web.json_response({"error": "invalid management key"}, status=401)
        if request.method != "GET" and self.fail_writes:
            return web.json_response({"error": "write refused by test"}, status=500)
        return None

    async def _healthz(self, request: web.Request) -> web.Response:
        if not self.healthy:
            return web.json_response({"status": "down"}, status=503)
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            keys = set(self.config["api-keys"])
            ids = _model_ids(self.config)
        if not key or (key not in keys and digest not in keys):
            return web.json_response({"error": {"message": "Invalid API key"}}, status=401)
        data = [{"id": i, "object": "model", "owned_by": "fake"} for i in ids]
        return web.json_response({"object": "list", "data": data})

    async def _get_config(self, request: web.Request) -> web.Response:
        if refused := self._guard(request):
            return refused
        with self._lock:
            return web.json_response(copy.deepcopy(self.config))

    async def _get_yaml(self, request: web.Request) -> web.Response:
        if refused := self._guard(request):
            return refused
        out = io.StringIO()
        with self._lock:
            YAML().dump(copy.deepcopy(self.config), out)
        return web.Response(text=out.getvalue(), content_type="application/yaml")

    async def _put_yaml(self, request: web.Request) -> web.Response:
        if refused := self._guard(request):
            return refused
        try:
            parsed = YAML(typ="safe").load(await request.text())
        except Exception as exc:
            return web.json_response({"error": "invalid_config", "message": str(exc)}, status=422)
        strategy = (parsed or {}).get("routing", {}).get("strategy", "round-robin")
        if not isinstance(parsed, dict) or strategy not in STRATEGIES:
            return web.json_response({"error": "invalid_config"}, status=422)
        with self._lock:
            self.config = parsed
            self.writes.append("config.yaml")
        return web.json_response({"ok": True})

    async def _metrics(self, request: web.Request) -> web.Response:
        if not self.healthy:
            return web.json_response({"status": "down"}, status=503)
        return web.Response(body=self.metrics.render(), content_type="text/plain")

    async def _auth_files(self, request: web.Request) -> web.Response:
        if refused := self._guard(request):
            return refused
        with self._lock:
            return web.json_response({"files": copy.deepcopy(self.auth_files)})

    async def _value(self, request: web.Request) -> web.Response:
        if refused := self._guard(request):
            return refused
        name = request.match_info["name"]
        if name in LISTS or name in MAPS:
            return await self._collection(request, name)
        if name in SCALARS:
            return await self._scalar(request, name, SCALARS[name])
        return web.json_response({"error": "not found"}, status=404)

    async def _collection(self, request: web.Request, name: str) -> web.Response:
        if request.method == "GET":
            return web.json_response({name: self.snapshot(name)})
        if request.method != "PUT":
            return web.json_response({"error": "method not allowed"}, status=405)
        body = await request.json()
        if isinstance(body, dict) and "items" in body and name in LISTS:
            body = body["items"]
        expected = list if name in LISTS else dict
        if not isinstance(body, expected):
            return web.json_response({"error": "invalid body"}, status=400)
        with self._lock:
            self.config[name] = body
            self.writes.append(name)
        return web.json_response({"status": "ok"})

    async def _scalar(self, request: web.Request, name: str, path: str) -> web.Response:
        section, _, leaf = path.rpartition(".")
        with self._lock:
            holder = self.config.setdefault(section, {}) if section else self.config
            if request.method == "GET":
                return web.json_response({leaf: holder.get(leaf)})
        value = (await request.json()).get("value")
        if name == "routing/strategy" and value not in STRATEGIES:
            return web.json_response({"error": "invalid strategy"}, status=400)
        with self._lock:
            holder[leaf] = value
            self.writes.append(name)
        return web.json_response({"status": "ok"})


def _model_ids(config: dict[str, Any]) -> list[str]:
    ids: set[str] = set()
    for entry in config.get("openai-compatibility", []):
        if entry.get("disabled"):
            continue
        prefix = entry.get("prefix", "")
        for model in entry.get("models", []):
            name = model.get("alias") or model.get("name")
            ids.add(f"{prefix}/{name}" if prefix else name)
    for section in ("claude-api-key", "gemini-api-key", "codex-api-key"):
        for entry in config.get(section, []):
            ids.update(m.get("alias") or m["name"] for m in entry.get("models", []))
    return sorted(ids)
