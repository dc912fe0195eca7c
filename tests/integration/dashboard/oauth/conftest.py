"""Two real proxy replicas served by the OAuth fakes, and the dashboard in front of them.

The proxies start once per module (a start costs seconds on a loaded machine); each test
begins with no auth files at either replica and an empty quota cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.integration.dashboard.conftest import MGMT_KEY
from tests.integration.dashboard.oauth.fakes_thread import ThreadedFakes, oauth_proxy
from tests.integration.dashboard.real_proxy import RealProxy


@pytest.fixture(scope="module")
def fakes() -> Iterator[ThreadedFakes]:
    threaded = ThreadedFakes()
    yield threaded
    threaded.stop()


@pytest.fixture(scope="module")
def module_replicas(
    tmp_path_factory: pytest.TempPathFactory, fakes: ThreadedFakes
) -> Iterator[list[RealProxy]]:
    folder = tmp_path_factory.mktemp("replicas")
    started = [oauth_proxy(folder / "a", fakes), oauth_proxy(folder / "b", fakes)]
    yield started
    for proxy in started:
        proxy.stop()


@pytest.fixture
def replicas(module_replicas: list[RealProxy], dashboard_db: str) -> list[RealProxy]:
    for proxy in module_replicas:
        answer = httpx.delete(
            f"{proxy.url}/v0/management/auth-files",
            params={"all": "true"},
            headers={"Authorization": f"Bearer {MGMT_KEY}"},
        )
        assert answer.status_code < 300, answer.text
    with psycopg.connect(dashboard_db, autocommit=True) as conn:
        conn.execute("TRUNCATE oauth_quota_cache, oauth_logins, oauth_accounts")
    return module_replicas


@pytest.fixture
def proxies(replicas: list[RealProxy]) -> list[RealProxy]:
    return replicas
