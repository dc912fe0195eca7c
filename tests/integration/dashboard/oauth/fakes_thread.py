"""The OAuth provider fakes on their own event loop in a thread, for synchronous tests (the
dashboard's TestClient and Playwright's sync API), next to real proxy processes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import free_port
from tests.fakes.oauth.harness import OAuthFakes
from tests.integration.dashboard.real_proxy import RealProxy

T = TypeVar("T")
REDIRECT_TYPES = ("claude", "codex", "antigravity", "gemini")


class ThreadedFakes:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fakes = OAuthFakes()
        asyncio.run_coroutine_threadsafe(self.fakes.start(), self.loop).result(10)

    def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run a scripting call on the fakes' loop (they are not thread safe)."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args, **kw))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fakes.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def oauth_proxy(folder: Path, fakes: ThreadedFakes) -> RealProxy:
    """A real proxy whose providers are the fakes. The callback listeners are moved to free
    ports, so the browser's `localhost:<provider port>` redirect reaches nothing, as on a server:
    the pasted redirect URL is the way in."""
    extra = {
        "upstream-host-overrides": fakes.fakes.overrides,
        "oauth-callback-ports": {t: free_port() for t in REDIRECT_TYPES},
        "streaming": {"keepalive-seconds": 0, "bootstrap-retries": 1},
    }
    return RealProxy(folder, extra)


def follow_sign_in(url: str) -> str:
    """What the user's browser does at the provider: the authorize page answers a redirect to
    the localhost callback, whose address the user then copies."""
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


def claude_file(fakes: ThreadedFakes, email: str, **fields: Any) -> dict[str, Any]:
    """An auth file as CLIProxyAPI writes it for a fake Claude account (tokens the fake knows)."""
    from datetime import UTC, datetime

    claude = fakes.fakes.claude
    account = fakes.call(claude.add_account, email)
    tokens = fakes.call(claude.issue, account)

    def stamp(at: float) -> str:
        return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")

    return {
        "type": "claude",
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "last_refresh": stamp(tokens.issued_at),
        "expired": stamp(tokens.issued_at + tokens.expires_in),
        "email": email,
        "account_uuid": account.id,
        **fields,
    }
