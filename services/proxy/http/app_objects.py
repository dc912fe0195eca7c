"""Typed keys for the objects the proxy app shares between handlers."""

from __future__ import annotations

from aiohttp import web

from ..config.store import ConfigStore
from ..observability.metrics import Metrics
from ..routing.cooldowns import Cooldowns
from ..routing.runtime import RuntimeHolder
from ..settings import ProxySettings
from ..upstream.executor import Executor

SETTINGS = web.AppKey("settings", ProxySettings)
STORE = web.AppKey("store", ConfigStore)
RUNTIME = web.AppKey("runtime", RuntimeHolder)
EXECUTOR = web.AppKey("executor", Executor)
COOLDOWNS = web.AppKey("cooldowns", Cooldowns)
METRICS = web.AppKey("metrics", Metrics)
