"""The dashboard finds the proxy replicas by DNS (PROXY_URL=dns+http://NAME:PORT).

Real proxy processes share one port at 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all of 127/8 is
loopback on Linux); the only seam is the DNS answer, a resolver that maps the test's name to the
addresses it holds now. The app runs with `resync_interval_s=0` (one resync at start, none
after), so whatever a replica that appears later holds came from discovery.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from services.dashboard.app import create_app
from services.dashboard.proxies.discovery import ReplicaWatcher
from services.dashboard.settings import DashboardSettings
from tests.conftest import free_port
from tests.integration.dashboard.conftest import ENC_KEY, JWT_SECRET, MGMT_KEY, ORIGIN, Browser
from tests.integration.dashboard.oauth.fakes_thread import ThreadedFakes, claude_file
from tests.integration.dashboard.real_proxy import RealProxy

NAME = "proxies.test"


class Dns:
    """The test's DNS: `NAME` resolves to whatever `addresses` holds now."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    async def __call__(self, name: str, port: int) -> list[str]:
        return list(self.addresses) if name == NAME else []


@pytest.fixture(scope="module")
def fakes() -> Iterator[ThreadedFakes]:
    threaded = ThreadedFakes()
    yield threaded
    threaded.stop()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def start_replica(tmp_path: Path, port: int, fakes: ThreadedFakes) -> Iterator[Any]:
    """`start_replica("127.0.0.3")`: a proxy with an empty folder at that address."""
    started: list[RealProxy] = []

    def start(host: str) -> RealProxy:
        extra = {"upstream-host-overrides": fakes.fakes.overrides}
        proxy = RealProxy(tmp_path / host, extra, host=host, port=port)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def dns() -> Dns:
    return Dns()


@pytest.fixture
def replicas(start_replica: Any, dns: Dns) -> list[RealProxy]:
    pair = [start_replica("127.0.0.1"), start_replica("127.0.0.2")]
    dns.addresses = ["127.0.0.1", "127.0.0.2"]
    return pair


@pytest.fixture
def settings(dashboard_db: str, port: int, replicas: list[RealProxy]) -> DashboardSettings:
    return DashboardSettings(
        database_url=dashboard_db,
        jwt_secret=JWT_SECRET,
        management_api_key=MGMT_KEY,
        provider_encryption_key=ENC_KEY,
        proxy_url=f"dns+http://{NAME}:{port}",
        proxy_discovery_interval=0.05,
    )


@pytest.fixture
def client(settings: DashboardSettings, dns: Dns) -> Iterator[TestClient]:
    app = create_app(settings, resync_interval_s=0, resolver=dns)
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as test_client:
        yield test_client


def watcher(client: TestClient) -> ReplicaWatcher:
    value = client.app.state.replica_watcher  # type: ignore[attr-defined]
    assert isinstance(value, ReplicaWatcher)
    return value


def wait_until_listed(client: TestClient, url: str, listed: bool = True) -> None:
    """Await the app's own replica set (in its loop) until `url` is in it, or out of it."""
    replicas = watcher(client).replicas
    wanted = replicas.wait_for(lambda urls: (url in urls) == listed)
    client.portal.call(asyncio.wait_for, wanted, 20)  # type: ignore[union-attr]


def wait_filled(client: TestClient, url: str) -> None:
    """Await the event of the replica at `url` having been given the whole state."""
    filled = watcher(client).wait_filled(url)
    result = client.portal.call(asyncio.wait_for, filled, 30)  # type: ignore[union-attr]
    assert result.ok, result.message


def serves(proxy: RealProxy, key: str) -> bool:
    answer = httpx.get(
        f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    return answer.status_code == 200


def key_listed(proxy: RealProxy, key: str) -> bool:
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    listed: Any = proxy.management("api-keys")
    return digest in listed["api-keys"]


def test_a_client_key_reaches_every_replica_the_name_resolves_to(
    alice: Browser, anon: Browser, replicas: list[RealProxy], port: int
) -> None:
    key = alice.post("/api/user/api-keys", json={"name": "sdk"}).json()["data"]["key"]
    assert all(serves(proxy, key) for proxy in replicas)
    health = anon.get("/api/health").json()["data"]
    names = {check["name"] for check in health["checks"]}
    assert {f"proxy 127.0.0.1:{port}", f"proxy 127.0.0.2:{port}"} <= names  # named by address


def test_a_replica_that_appears_is_given_the_whole_state(
    admin: Browser,
    alice: Browser,
    client: TestClient,
    dns: Dns,
    fakes: ThreadedFakes,
    replicas: list[RealProxy],
    start_replica: Any,
) -> None:
    """Keys, settings, aliases and OAuth files written before the replica existed."""
    key = alice.post("/api/user/api-keys", json={"name": "sdk"}).json()["data"]["key"]
    current = admin.get("/api/proxy-settings").json()["data"]["settings"]
    settings = {**current, "request-retry": 4, "routing.strategy": "fill-first"}
    assert admin.put("/api/proxy-settings", json={"settings": settings}).status_code == 200
    aliases = {"claude": [{"name": "claude-sonnet-4-5", "alias": "sonnet"}]}
    assert admin.put("/api/model-aliases", json={"aliases": aliases}).status_code == 200
    account = claude_file(fakes, "moved@example.com")
    body = {"fileName": "claude-moved@example.com.json", "fileContent": json.dumps(account)}
    assert alice.post("/api/oauth/import", json=body).status_code == 201

    third = start_replica("127.0.0.3")  # a replacement with an empty volume
    assert not serves(third, key)
    dns.addresses = [*dns.addresses, "127.0.0.3"]
    wait_filled(client, third.url)

    assert serves(third, key)
    config: Any = third.management("config")
    assert (config["request-retry"], config["routing"]["strategy"]) == (4, "fill-first")
    held: Any = third.management("oauth-model-alias")
    assert held == replicas[0].management("oauth-model-alias")
    assert held["oauth-model-alias"]["claude"][0]["alias"] == "sonnet"
    files: Any = third.management("auth-files")
    assert "claude-moved@example.com.json" in {f["name"] for f in files["files"]}


def test_a_replica_gone_from_dns_is_left_alone_and_caught_up_when_back(
    alice: Browser, client: TestClient, dns: Dns, replicas: list[RealProxy]
) -> None:
    one, two = replicas
    dns.addresses = ["127.0.0.1"]
    wait_until_listed(client, two.url, listed=False)
    key = alice.post("/api/user/api-keys", json={"name": "while-away"}).json()["data"]["key"]
    assert key_listed(one, key) and not key_listed(two, key)  # writes go to the live set only

    dns.addresses = ["127.0.0.1", "127.0.0.2"]
    wait_filled(client, two.url)
    assert key_listed(two, key) and serves(two, key)


def test_a_replica_listed_before_it_listens_blocks_nothing_and_is_filled_once_up(
    alice: Browser, anon: Browser, client: TestClient, dns: Dns, start_replica: Any, port: int
) -> None:
    """DNS may name a task whose process is still starting: writes and pages go on with the
    replicas in service, and the newcomer gets the state once it answers."""
    late = f"http://127.0.0.3:{port}"
    dns.addresses = [*dns.addresses, "127.0.0.3"]
    wait_until_listed(client, late)
    key = alice.post("/api/user/api-keys", json={"name": "early"})
    assert key.status_code == 201, key.text
    names = {check["name"] for check in anon.get("/api/health").json()["data"]["checks"]}
    assert f"proxy 127.0.0.3:{port}" not in names  # not in service yet

    third = start_replica("127.0.0.3")
    wait_filled(client, third.url)
    assert serves(third, key.json()["data"]["key"])
