"""The link to the Docker engine, through docker-socket-proxy only (DOCKER_HOST).

The docker SDK is blocking: every call runs in a worker thread (`run`), never on the event
loop. The client is made on first use, so a dashboard without DOCKER_HOST, or whose socket
proxy is down, starts and serves every other page; container features then say "unavailable".
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import docker.errors
import requests
from starlette.requests import Request

from services.core.errors import AppError, Forbidden, NotFound, Unavailable, UpstreamError

T = TypeVar("T")
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class EngineUnavailable(Unavailable):
    code = "docker_unavailable"


class EngineRefused(Forbidden):
    """The socket proxy (or the engine) refused the call: a permission that is off."""

    code = "docker_refused"


class DockerLink:
    """DOCKER_HOST and the compose project whose containers the dashboard may see."""

    def __init__(self, host: str, project: str, timeout_s: float = 30.0) -> None:
        self.host = host
        self.project = project
        self._timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.host and self.project)

    def why_unavailable(self) -> str | None:
        if not self.host:
            return "DOCKER_HOST is not set: the dashboard has no Docker access."
        if not self.project:
            return "COMPOSE_PROJECT is not set: the dashboard does not know its stack."
        return None

    async def run(self, call: Callable[[Any], T]) -> T:
        """`call(client)` in a worker thread; engine failures become AppErrors."""
        reason = self.why_unavailable()
        if reason:
            raise EngineUnavailable(reason)
        return await asyncio.to_thread(self._guarded, call)

    def _guarded(self, call: Callable[[Any], T]) -> T:
        try:
            return call(self._connected())
        except AppError:
            raise
        except docker.errors.NotFound as exc:
            raise NotFound(f"Docker: {_explain(exc)}", code="container_not_found") from exc
        except docker.errors.APIError as exc:
            raise _api_error(exc) from exc
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            self._drop()
            raise EngineUnavailable(
                f"the Docker engine is unreachable at {self.host} ({type(exc).__name__})"
            ) from exc

    def _connected(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = docker.DockerClient(base_url=self.host, timeout=self._timeout_s)
            return self._client

    def _drop(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def close(self) -> None:
        self._drop()


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or exc)[:300]


def _api_error(exc: docker.errors.APIError) -> AppError:
    status = exc.status_code or 502
    if status == 403:
        return EngineRefused(f"the socket proxy refused the call ({_explain(exc)})")
    return UpstreamError(f"Docker answered {status}: {_explain(exc)}", code="docker_error")


def docker_link(request: Request) -> DockerLink:
    value = request.app.state.docker
    assert isinstance(value, DockerLink)
    return value
