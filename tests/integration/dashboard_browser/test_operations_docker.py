"""The Containers and Updates pages against a real Docker engine, in Chromium.

The run's private engine (tests/docker/engine.py) holds a small stack labelled as compose
labels it (project `opsstack`): a gateway stand-in image in three local tags (`1`, `2`, and
`bad`, whose health check fails), run as the proxy and the collector; Postgres and the
dashboard as view-only containers; and the socket proxy with the permissions of
infrastructure/docker-compose.yml, read from that file. The dashboard runs as a process and
reaches Docker only through that socket proxy. Docker Hub cannot be reached here, which is
also what "no registry access" looks like: the Updates page says so, and a deploy uses the
engine's copy of the tag (the step log says that too).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import httpx
import psycopg
import pytest
from playwright.sync_api import Locator, Page, expect
from ruamel.yaml import YAML

from services.dashboard.updates import webhook
from tests.conftest import free_port
from tests.docker import standins
from tests.docker.engine import Engine
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard_browser.conftest import ConsoleWatch, shot, spawn_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[3]
PROJECT = "opsstack"
IMAGE = "opstest/gateway"
SECRET = "ops-deploy-secret-0123456789abcdef"
PASSWORD = "operations admin password"
T = TypeVar("T")

APP = """\
import http.server, os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 has no default handler
VERSION, HEALTHY = os.environ["APP_VERSION"], os.environ["APP_HEALTHY"] == "1"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"version {VERSION}".encode()
        self.send_response(200 if HEALTHY else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print(f"gateway stand-in {VERSION} listening", flush=True)
http.server.HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""

DOCKERFILE = """\
FROM {base}
COPY app.py /app.py
ENV APP_VERSION={version} APP_HEALTHY={healthy}
LABEL org.opencontainers.image.version={version}
HEALTHCHECK --interval=1s --timeout=10s --retries=5 \
  CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080', timeout=8)"]
CMD ["python3", "/app.py"]
"""


def wait_for(check: Callable[[], T | None], limit: float = 90.0, what: str = "condition") -> T:
    deadline = time.monotonic() + limit
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {limit:.0f} s")
        time.sleep(0.25)  # the socket proxy passes no events: poll the state
    return value


@dataclass
class Stack:
    engine: Engine
    docker_host: str  # the socket proxy, as the dashboard reaches it

    def inspect(self, name: str) -> dict[str, Any]:
        out = self.engine.docker("inspect", name).stdout
        return dict(json.loads(out)[0])

    def health(self, name: str) -> str:
        state = self.inspect(name)["State"]
        return str((state.get("Health") or {}).get("Status") or state["Status"])

    def image_of(self, name: str) -> str:
        return str(self.inspect(name)["Config"]["Image"])

    def names(self) -> list[str]:
        out = self.engine.docker(
            "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
            "--format", "{{.Names}}",
        ).stdout  # fmt: skip
        return sorted(out.split())


def _build_images(engine: Engine, base: str, folder: Path) -> None:
    (folder / "app.py").write_text(APP)
    for tag, version, healthy in (("1", "1", "1"), ("2", "2", "1"), ("bad", "3", "0")):
        (folder / "Dockerfile").write_text(
            DOCKERFILE.format(base=base, version=version, healthy=healthy)
        )
        engine.docker("build", "-q", "-t", f"{IMAGE}:{tag}", str(folder))


def _socket_proxy_env() -> dict[str, str]:
    """The permissions of the production compose file, so the test allows no more."""
    model = YAML(typ="safe").load((ROOT / "infrastructure" / "docker-compose.yml").read_text())
    return {k: str(v) for k, v in model["services"]["docker-proxy"]["environment"].items()}


def _labels(service: str) -> list[str]:
    return [
        f"--label=com.docker.compose.project={PROJECT}",
        f"--label=com.docker.compose.service={service}",
    ]


def _run(engine: Engine, service: str, image: str, *args: str, options: tuple = ()) -> str:
    name = f"{PROJECT}-{service}-1"
    engine.docker(
        "run", "-d", "--name", name, "--network", f"{PROJECT}_backend",
        "--network-alias", service, *_labels(service), *options, image, *args,
    )  # fmt: skip
    return name


@pytest.fixture(scope="module")
def stack(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    recipes = [standins.RECIPES_BY_NAME["python"], standins.RECIPES_BY_NAME["socket-proxy"]]
    tags = standins.provide(docker_engine, recipes)
    _build_images(docker_engine, tags["python"], tmp_path_factory.mktemp("gateway-image"))
    engine = docker_engine
    engine.docker("network", "create", f"{PROJECT}_backend")
    port = free_port()
    env = [f"--env={k}={v}" for k, v in _socket_proxy_env().items()]
    _run(engine, "docker-proxy", tags["socket-proxy"], options=(
        *env, "-p", f"127.0.0.1:{port}:2375", "-v", f"{engine.socket}:/var/run/docker.sock:ro",
    ))  # fmt: skip
    _run(engine, "postgres", tags["python"], "sleep", "infinity")
    _run(engine, "dashboard", tags["python"], "sleep", "infinity")
    for service in ("proxy", "collector"):
        _run(engine, service, f"{IMAGE}:1")
    # The one-shot migration: a deploy runs it with the new image before anything else.
    _run(
        engine,
        "migrate",
        f"{IMAGE}:1",
        "python3",
        "-c",
        "import os; print('migrated by', os.environ['APP_VERSION'])",
    )
    result = Stack(engine, f"tcp://127.0.0.1:{port}")
    for name in (f"{PROJECT}-proxy-1", f"{PROJECT}-collector-1"):
        wait_for(lambda n=name: result.health(n) == "healthy", what=f"{name} healthy")
    try:
        yield result
    finally:
        ids = engine.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}")
        if ids.stdout.split():
            engine.docker("rm", "-f", *ids.stdout.split(), check=False)
        engine.docker("network", "rm", f"{PROJECT}_backend", check=False)


@dataclass
class Ops:
    url: str
    stack: Stack
    database_url: str
    page: Page

    def api(self, method: str, path: str, **kw: Any) -> Any:
        """A call with the page's session cookie (the browser context's request API)."""
        headers = {"Origin": self.url} if method != "GET" else {}  # the CSRF rule's Origin check
        return self.page.context.request.fetch(
            self.url + path, method=method, headers=headers, **kw
        )

    def audit(self, action: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT target, metadata FROM audit_log WHERE action = %s ORDER BY id", (action,)
            ).fetchall()
        return [{"target": r[0], **r[1]} for r in rows]

    def deploy(self, deploy_id: int) -> dict[str, Any]:
        response = self.api("GET", f"/api/updates/deploys/{deploy_id}")
        assert response.status == 200, response.text()
        return dict(response.json()["data"])


@pytest.fixture
def ops(stack: Stack, database_url: str, page: Page) -> Iterator[Ops]:
    proxy = FakeManagementAPI("test-management-key-0123456789").start()
    env = {
        "DOCKER_HOST": stack.docker_host,
        "COMPOSE_PROJECT": PROJECT,
        "DEPLOY_SECRET": SECRET,
        "UPDATE_HEALTH_TIMEOUT": "90",  # the machine is shared: health probes can be slow,
    }
    try:
        with spawn_dashboard(database_url, proxy.url, **env) as (url, _log):
            setup = page.context.request.post(
                url + "/api/setup", data={"username": "admin", "password": PASSWORD}
            )
            assert setup.status == 201, setup.text()
            yield Ops(url, stack, database_url, page)
    finally:
        proxy.stop()


@pytest.fixture
def page(page: Page) -> Iterator[Page]:
    # Each Containers render waits for one stats sample per container (about a second, in
    # parallel) on a shared two-core machine.
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    yield page
    expect.set_options(timeout=5_000)


def row(page: Page, service: str) -> Locator:
    return page.locator(f'tr[data-service="{service}"]')


def test_containers_page_restarts_the_proxy_and_it_comes_back_healthy(ops: Ops) -> None:
    page, stack = ops.page, ops.stack
    watch = ConsoleWatch(page)
    before = stack.inspect(f"{PROJECT}-proxy-1")["State"]["StartedAt"]
    page.goto(ops.url + "/dashboard/containers")
    for service in ("proxy", "collector", "postgres", "dashboard", "docker-proxy"):
        expect(row(page, service)).to_have_count(1)
    expect(row(page, "proxy").locator("[data-health]")).to_have_text("healthy")
    expect(row(page, "proxy")).to_contain_text(f"{IMAGE}:1")
    expect(row(page, "proxy")).to_contain_text("version 1")
    # Postgres, the dashboard and the socket proxy are view-only: no action buttons at all.
    for service in ("postgres", "dashboard", "docker-proxy"):
        expect(row(page, service).get_by_role("button")).to_have_count(0)
        expect(row(page, service)).to_contain_text("view-only")
    expect(row(page, "proxy").get_by_role("button", name="Start", exact=True)).to_have_count(0)
    shot(page, "containers")

    row(page, "proxy").get_by_role("button", name="Restart").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash").first).to_contain_text("restart done", timeout=30_000)
    wait_for(
        lambda: (
            stack.inspect(f"{PROJECT}-proxy-1")["State"]["StartedAt"] != before
            and stack.health(f"{PROJECT}-proxy-1") == "healthy"
        ),
        what="the proxy restarted and healthy",
    )
    page.goto(ops.url + "/dashboard/containers")
    expect(row(page, "proxy").locator("[data-health]")).to_have_text("healthy")
    [entry] = ops.audit("CONTAINER_RESTART")
    assert entry["target"] == f"{PROJECT}-proxy-1" and entry["service"] == "proxy"
    assert watch.errors == []


def test_actions_outside_the_allowlist_are_refused_and_audited(ops: Ops) -> None:
    body = {"action": "restart", "confirm": True}
    refused = ops.api("POST", f"/api/containers/{PROJECT}-postgres-1/action", data=body)
    assert refused.status == 403, refused.text()
    assert refused.json()["error"]["code"] == "action_not_allowed"
    [entry] = ops.audit("CONTAINER_ACTION_REFUSED")
    assert entry["service"] == "postgres" and entry["requested"] == "restart"
    # The dashboard itself is view-only too; a container outside the project is not found.
    dash = ops.api("POST", f"/api/containers/{PROJECT}-dashboard-1/action", data=body)
    assert dash.status == 403
    ops.stack.engine.docker("run", "-d", "--name", "outsider", "--label", "x=y",
                            standins.RECIPES_BY_NAME["python"].tag, "sleep", "300")  # fmt: skip
    try:
        outside = ops.api("POST", "/api/containers/outsider/action", data=body)
        assert outside.status == 404
    finally:
        ops.stack.engine.docker("rm", "-f", "outsider")
    # Unconfirmed or unknown actions are a clear 400 and touch nothing.
    unconfirmed = ops.api("POST", f"/api/containers/{PROJECT}-proxy-1/action",
                          data={"action": "stop"})  # fmt: skip
    assert unconfirmed.status == 400
    assert ops.stack.health(f"{PROJECT}-proxy-1") == "healthy"
    # The socket proxy itself refuses what no page needs (exec, volumes), whoever asks.
    client = docker.DockerClient(base_url=ops.stack.docker_host, timeout=10)
    try:
        # Creating an exec instance is a CONTAINERS path (/containers/{id}/exec); running it
        # is /exec/{id}/start, which EXEC=0 refuses, so no command ever runs.
        created = client.api.exec_create(f"{PROJECT}-proxy-1", ["id"])
        with pytest.raises(docker.errors.APIError, match="403"):
            client.api.exec_start(created["Id"])
        with pytest.raises(docker.errors.APIError, match="403"):
            client.volumes.list()
    finally:
        client.close()


def test_recent_logs_are_bounded_and_listed_live(ops: Ops) -> None:
    logs = ops.api("GET", f"/api/containers/{PROJECT}-proxy-1/logs?lines=2")
    assert logs.status == 200
    lines = logs.json()["data"]["lines"]
    assert 1 <= len(lines) <= 2 and "gateway stand-in" in lines[-1]
    assert ops.api("GET", f"/api/containers/{PROJECT}-proxy-1/logs?lines=501").status == 400
    listed = ops.api("GET", "/api/containers").json()["data"]["containers"]
    proxy = next(c for c in listed if c["service"] == "proxy")
    assert proxy["state"] == "running" and proxy["uptimeSeconds"] is not None
    assert proxy["memoryBytes"] and proxy["actions"] == ["stop", "restart"]
    ops.page.goto(ops.url + f"/dashboard/containers/{PROJECT}-proxy-1/logs?lines=5")
    expect(ops.page.locator("pre.log-view")).to_contain_text("gateway stand-in")


def test_update_to_a_newer_tag_from_the_updates_page(ops: Ops) -> None:
    page, stack = ops.page, ops.stack
    watch = ConsoleWatch(page)
    page.goto(ops.url + "/dashboard/updates")
    # No registry here: said plainly, and updating to a tag the engine has still works.
    expect(page.locator("[data-update-state]")).to_have_attribute("data-update-state", "unknown")
    expect(page.locator("#update-check")).to_contain_text("No registry access")
    page.get_by_label("Tag").fill("2")
    page.get_by_role("button", name="Update").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/dashboard/updates/deploys/\d+$"))
    deploy_id = int(page.url.rsplit("/", 1)[1])
    done = wait_for(
        lambda: (d := ops.deploy(deploy_id))["status"] != "running" and d,
        limit=300, what="the deploy finished",
    )  # fmt: skip
    assert done["status"] == "succeeded", done["steps"]
    # The page polls the step log until the outcome is known.
    status = page.locator("#deploy-steps [data-status]")
    expect(status).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#deploy-steps")).to_contain_text("deploying that")
    shot(page, "deploy-succeeded")
    for service in ("proxy", "collector"):
        name = f"{PROJECT}-{service}-1"
        assert stack.image_of(name) == f"{IMAGE}:2"
        assert stack.health(name) == "healthy"
        env = stack.inspect(name)["Config"]["Env"]
        assert "APP_VERSION=2" in env  # the new image's defaults, not the old container's
    assert not [n for n in stack.names() if "-old-" in n or "-new-" in n]
    migrate = f"{PROJECT}-migrate-1"
    assert stack.image_of(migrate) == f"{IMAGE}:2"
    assert stack.inspect(migrate)["State"]["ExitCode"] == 0
    assert "migrated by 2" in stack.engine.docker("logs", migrate).stdout
    expect(page.locator('#deploy-steps [data-step="migrate"]').last).to_contain_text("code 0")
    [started] = ops.audit("DEPLOY_STARTED")
    assert started["trigger"] == "page" and started["image"] == f"{IMAGE}:2"
    assert watch.errors == []


def _signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "X-Deploy-Timestamp": stamp,
        "X-Deploy-Signature": webhook.sign(SECRET, stamp, body),
        "Content-Type": "application/json",
    }


def test_webhook_deploy_of_a_failing_image_rolls_back(ops: Ops) -> None:
    stack = ops.stack
    running = stack.image_of(f"{PROJECT}-proxy-1")  # :2 after the page's update
    body = b'{"tag": "bad"}'
    headers = _signed(body)
    answer = httpx.post(ops.url + "/api/deploy/webhook", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    deploy_id = answer.json()["data"]["deployId"]
    replay = httpx.post(ops.url + "/api/deploy/webhook", content=body, headers=headers)
    assert replay.status_code == 401
    done = wait_for(
        lambda: (d := ops.deploy(deploy_id))["status"] != "running" and d,
        limit=300, what="the deploy finished",
    )  # fmt: skip
    assert done["status"] == "rolled_back", done["steps"]
    steps = [s["step"] for s in done["steps"]]
    assert "rollback" in steps
    failed = next(s for s in done["steps"] if s["step"] == "proxy" and s["ok"] is False)
    assert "unhealthy" in failed["message"]
    name = f"{PROJECT}-proxy-1"
    assert stack.image_of(name) == running
    wait_for(lambda: stack.health(name) == "healthy", what="the old proxy healthy again")
    assert stack.image_of(f"{PROJECT}-collector-1") == running  # never reached
    assert not [n for n in stack.names() if "-old-" in n or "-new-" in n]
    assert [a["reason"] for a in ops.audit("DEPLOY_WEBHOOK_REFUSED")] == ["replayed"]
    ops.page.goto(ops.url + f"/dashboard/updates/deploys/{deploy_id}")
    expect(ops.page.locator("#deploy-steps [data-status]")).to_have_text("rolled back")
    shot(ops.page, "deploy-rolled-back")
