"""The live objects the proxy app shares with its handlers, each under a typed key."""

from __future__ import annotations

from aiohttp import web

from ..config.paths import ProxyPaths
from ..config.store import ConfigStore
from ..limits.limiter import Limiter
from ..management.control_panel import ControlPanel
from ..observability.metrics import Metrics
from ..observability.worker_metrics import WorkerMetrics
from ..routing.cooldowns import Cooldowns
from ..routing.runtime import RuntimeHolder
from ..settings import ProxySettings
from ..upstream.executor import Executor
from ..usage.outbox import Outbox
from ..workers import WorkerSlot

SETTINGS = web.AppKey("settings", ProxySettings)
STORE = web.AppKey("store", ConfigStore)
RUNTIME = web.AppKey("runtime", RuntimeHolder)
EXECUTOR = web.AppKey("executor", Executor)
COOLDOWNS = web.AppKey("cooldowns", Cooldowns)
METRICS = web.AppKey("metrics", Metrics)
OUTBOX = web.AppKey("outbox", Outbox)
PATHS = web.AppKey("paths", ProxyPaths)
PANEL = web.AppKey("control_panel", ControlPanel)
LIMITER = web.AppKey("limiter", Limiter)
WORKER = web.AppKey("worker", WorkerSlot)
WORKER_METRICS = web.AppKey("worker_metrics", WorkerMetrics)  # set with worker processes only
