"""The Swarm stack (infrastructure/stack.yml) for real, on a one-node swarm of the private test
engine, deployed the way docs/installation.md tells an operator to (`manage.sh init`, then
`manage.sh stack-deploy`): 2 proxies, 2 dashboards, 2 collectors, one Postgres and the
one-shot migration, on overlay networks with `endpoint_mode: dnsrr` and host-mode ports.

On one node two replicas cannot share a host port, so the test sets PROXY_PORT=0 and
DASHBOARD_PORT=0 (each task gets a port of its own, read with `docker port`) and
*_REPLICAS_PER_NODE=2: variables, the stack file is the operator's. The gateway image is the
one the compose test built in this run when there is one (same tag), else built here; the
stand-in images come from the same session fixture. The tests run in order on one stack.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import openai
import pytest

from tests.conftest import free_port
from tests.docker import budgets, fake_upstream
from tests.docker.engine import Engine
from tests.e2e.test_compose_stack import ADMIN, MODEL, UPSTREAM_KEY, SteadyTraffic, eventually

pytestmark = pytest.mark.timeout(1800)

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "infrastructure" / "manage.sh"
IMAGE = "llm-gateway:e2e"  # the tag test_compose_stack.py builds


@dataclass
class Swarm:
    engine: Engine
    env: dict[str, str]
    name: str  # the stack's name: services are <name>_proxy, ...
    python_image: str  # the stand-in base of the fake upstream's image
    state: dict[str, object] = field(default_factory=dict)  # what earlier tests created

    def manage(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(MANAGE), *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 0, f"{args}:\n{result.stdout}{result.stderr}\n{self.tasks()}"
        return result

    def tasks(self) -> str:
        return self.engine.docker(
            "stack", "ps", self.name, "--no-trunc",
            "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", check=False,
        ).stdout  # fmt: skip

    def containers(self, service: str) -> list[str]:
        """IDs of the running containers of `<name>_<service>`, by task slot."""
        out = self.engine.docker(
            "ps", "--filter", f"label=com.docker.swarm.service.name={self.name}_{service}",
            "--format", '{{.ID}} {{.Label "com.docker.swarm.task.name"}}',
        ).stdout  # fmt: skip
        rows = sorted((line.split()[1], line.split()[0]) for line in out.splitlines())
        return [container for _, container in rows]

    def url(self, container: str, port: int) -> str:
        """The host port Swarm published for this task (host mode, PORT=0: one per task)."""
        out = self.engine.docker("port", container, str(port)).stdout
        return "http://127.0.0.1:" + re.search(r"0\.0\.0\.0:(\d+)", out)[1]  # type: ignore[index]

    def proxies(self) -> list[str]:
        return [self.url(c, 8317) for c in self.containers("proxy")]

    def dashboards(self) -> list[str]:
        return [self.url(c, 3000) for c in self.containers("dashboard")]

    def secret(self, key: str) -> str:
        for line in Path(self.env["ENV_FILE"]).read_text().splitlines():
            if line.startswith(f"{key}="):
                return line.split("=", 1)[1]
        raise KeyError(key)

    def management(self, proxy: str) -> httpx.Client:
        key = self.secret("MANAGEMENT_API_KEY")
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=f"{proxy}/v0/management", headers=headers, timeout=30)

    def psql(self, query: str) -> str:
        (postgres,) = self.containers("postgres")
        return self.engine.docker(
            "exec", postgres, "psql", "-U", "gateway", "-d", "gateway", "-At", "-F", " ",
            "-c", query,
        ).stdout  # fmt: skip


def _web(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Origin": base}, timeout=30)


def _swarm_init(engine: Engine) -> None:
    """A one-node swarm on loopback, on free ports (not 2377 and 4789), so it runs beside
    another test engine's swarm."""
    state = engine.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state != "active":
        address = f"127.0.0.1:{free_port()}"
        engine.docker(
            "swarm", "init", "--advertise-addr", address, "--listen-addr", address,
            "--data-path-port", str(_free_udp_port()),
        )  # fmt: skip


def _free_udp_port() -> int:
    """A free UDP port in the range Swarm accepts for its data path (1024-49151)."""
    for port in random.sample(range(20000, 49151), 50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free UDP port for the swarm's data path")


def _gateway_image(engine: Engine, images: dict[str, str]) -> None:
    """The image of the compose test of this run, or a build of our own (layer cache)."""
    if engine.docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return
    started = time.monotonic()
    engine.docker(
        "build", "-q", "-t", IMAGE, "-f", str(REPO / "infrastructure" / "Dockerfile"),
        "--build-arg", f"PYTHON_IMAGE={images['python']}",
        "--build-arg", f"NODE_IMAGE={images['node']}", str(REPO), timeout=1800,
    )  # fmt: skip
    budgets.record("swarm: gateway image build", time.monotonic() - started, "s")


@pytest.fixture(scope="module")
def swarm(
    docker_engine: Engine, standin_images: dict[str, str], tmp_path_factory
) -> Iterator[Swarm]:
    tmp = tmp_path_factory.mktemp("swarm")
    _swarm_init(docker_engine)
    _gateway_image(docker_engine, standin_images)
    name = f"gwswarm{os.getpid()}"
    env = dict(os.environ) | docker_engine.env | {
        "ENV_FILE": str(tmp / ".env"),
        "STACK_NAME": name,
        "GATEWAY_IMAGE": IMAGE,
        "POSTGRES_IMAGE": standin_images["postgres"],
        "PROXY_PORT": "0",
        "DASHBOARD_PORT": "0",
        "PROXY_REPLICAS_PER_NODE": "2",
        "DASHBOARD_REPLICAS_PER_NODE": "2",
        # A replaced proxy is found within seconds rather than the default 10.
        "PROXY_DISCOVERY_INTERVAL": "2",
        "COLLECTOR_IDLE_INTERVAL": "1",
    }  # fmt: skip
    swarm = Swarm(docker_engine, env, name, standin_images["python"])
    yield swarm
    docker_engine.docker("service", "rm", f"{name}-fake", check=False)
    docker_engine.docker("stack", "rm", name, check=False)
    docker_engine.docker("swarm", "leave", "--force", check=False)


def _record_memory(swarm: Swarm) -> None:
    out = swarm.engine.docker(
        "stats", "--no-stream", "--format", '{{.Name}} {{.MemUsage}}'
    ).stdout  # fmt: skip
    totals: dict[str, list[float]] = {}
    for line in out.splitlines():
        name, usage = line.split(" ", 1)
        found = re.match(rf"{swarm.name}_(\w+)\.\d+\.", name)
        amount = re.match(r"([\d.]+)\s*([KMG]i?B)", usage)
        if found and amount:
            factor = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "kB": 1 / 1000, "MB": 1, "GB": 1000}
            totals.setdefault(found[1], []).append(float(amount[1]) * factor[amount[2]])
    for service, values in sorted(totals.items()):
        each = ", ".join(f"{v:.0f}" for v in values)
        budgets.record(f"swarm memory at rest: {service}", sum(values), "MiB", f"({each})")


def _first_ready(swarm: Swarm) -> dict[str, float]:
    """Per service, when its last replica became ready (running and healthy; migrate: its task
    completed), from the tasks' state timestamps: where the deploy's time went."""
    ids = swarm.engine.docker(
        "stack", "ps", "-q", "--filter", "desired-state=running", swarm.name
    ).stdout.split()  # fmt: skip
    ids += swarm.engine.docker("service", "ps", "-q", f"{swarm.name}_migrate").stdout.split()[:1]
    out = swarm.engine.docker(
        "inspect", "--format", "{{.ServiceID}} {{.Status.State}} {{.Status.Timestamp}}", *ids
    ).stdout  # fmt: skip
    service_ids = swarm.engine.docker("service", "ls", "-q").stdout.split()
    services = swarm.engine.docker(
        "service", "inspect", "--format", "{{.ID}} {{.Spec.Name}}", *service_ids
    )  # fmt: skip
    names = {
        line.split()[0]: line.split()[1].removeprefix(f"{swarm.name}_")
        for line in services.stdout.splitlines()
    }
    ready: dict[str, float] = {}
    for line in out.splitlines():
        service_id, state, stamp = line.split(" ", 2)
        if state in ("running", "complete"):
            at = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", stamp.split(" +")[0]))
            name = names.get(service_id, service_id)
            ready[name] = max(ready.get(name, 0.0), at.replace(tzinfo=UTC).timestamp())
    return dict(sorted(ready.items(), key=lambda item: item[1]))


def test_stack_deploy_runs_every_replica(swarm: Swarm):
    swarm.manage("init")
    started, wall = time.monotonic(), time.time()
    swarm.manage("stack-deploy")
    for service, reached in _first_ready(swarm).items():
        budgets.record(f"swarm: deploy until {service} ready", reached - wall, "s")
    restarted = len(re.findall(r" (Failed|Rejected) ", swarm.tasks()))
    budgets.record(
        "swarm: stack-deploy to all replicas running",
        time.monotonic() - started,
        "s",
        f"{restarted} task(s) failed and were replaced on the way",
    )
    services = swarm.engine.docker(
        "service", "ls", "--filter", f"label=com.docker.stack.namespace={swarm.name}",
        "--format", "{{.Name}} {{.Replicas}}",
    ).stdout  # fmt: skip
    replicas = dict(line.split(" ", 1) for line in services.splitlines())
    for service, count in {"proxy": 2, "dashboard": 2, "collector": 2, "postgres": 1}.items():
        assert replicas[f"{swarm.name}_{service}"].startswith(f"{count}/{count}"), replicas
        assert len(swarm.containers(service)) == count
    assert re.search(rf"{swarm.name}_migrate\.1 Complete", swarm.tasks()), swarm.tasks()
    volumes = swarm.engine.docker("volume", "ls", "-q").stdout.split()
    for slot in (1, 2):  # one outbox per replica slot
        assert f"{swarm.name}_proxy-data-{slot}" in volumes, volumes
    time.sleep(5)  # let the replicas settle before measuring memory at rest
    _record_memory(swarm)


def _start_fake_upstream(swarm: Swarm) -> str:
    """The fake OpenAI upstream as a service on the stack's outward overlay network."""
    image = fake_upstream.build(swarm.engine, swarm.python_image)
    name = f"{swarm.name}-fake"
    swarm.engine.docker(
        "service", "create", "--detach", "--name", name, "--network", f"{swarm.name}_frontend",
        "--endpoint-mode", "dnsrr", image, "python", "-m", "tests.fakes.openai_upstream",
        "--host", "0.0.0.0", "--port", str(fake_upstream.PORT), "--chunk-delay", "0.15",
    )  # fmt: skip

    def listening() -> bool:
        result = swarm.engine.docker("service", "logs", name, check=False)
        return "listening" in result.stdout + result.stderr

    eventually(listening, what="the fake upstream listening")
    return f"http://{name}:{fake_upstream.PORT}/v1"


def _key_digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_keys_and_settings_written_in_either_dashboard_reach_both_proxies(swarm: Swarm):
    """First-admin setup on one dashboard; the provider, a proxy setting on the other and a
    client key on the first: both proxies have them all and answer with the key."""
    base_url = _start_fake_upstream(swarm)
    first, second = swarm.dashboards()
    with _web(first) as one, _web(second) as two:
        assert one.post("/api/setup", json=ADMIN).status_code == 201
        assert two.post("/api/auth/login", json=ADMIN).status_code == 200
        allow = {"key": "allow_private_upstreams", "value": True}
        assert two.put("/api/admin/settings", json=allow).status_code == 200
        created = two.post(
            "/api/custom-providers",
            json={
                "name": "Fake upstream", "providerId": "fake-upstream", "baseUrl": base_url,
                "apiKey": UPSTREAM_KEY, "models": [{"upstreamName": "gpt-fake", "alias": MODEL}],
            },
        )  # fmt: skip
        assert created.status_code == 201, created.text
        current = two.get("/api/proxy-settings").json()["data"]["settings"]
        saved = two.put("/api/proxy-settings", json={"settings": current | {"request-retry": 4}})
        assert saved.status_code == 200, saved.text
        key = one.post("/api/user/api-keys", json={"name": "swarm"}).json()["data"]["key"]
    swarm.state["key"] = key
    for proxy in swarm.proxies():
        with swarm.management(proxy) as mgmt:
            assert _key_digest(key) in mgmt.get("/api-keys").json()["api-keys"]
            assert mgmt.get("/request-retry").json()["request-retry"] == 4
            (entry,) = mgmt.get("/openai-compatibility").json()["openai-compatibility"]
            assert entry["base-url"] == base_url
        assert _ask(proxy, key)[0] == "Hello from the fake upstream."


def test_a_session_from_one_dashboard_works_on_the_other(swarm: Swarm):
    first, second = swarm.dashboards()
    with _web(first) as one:
        assert one.post("/api/auth/login", json=ADMIN).status_code == 200
        cookies = dict(one.cookies)
    with httpx.Client(base_url=second, headers={"Origin": second}, timeout=30) as two:
        for name, value in cookies.items():
            two.cookies.set(name, value)
        me = two.get("/api/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["data"]["username"] == ADMIN["username"]
        assert two.post("/api/auth/logout").status_code in (200, 204)
    with _web(first) as one:  # the logout on the second ended the session on the first too
        for name, value in cookies.items():
            one.cookies.set(name, value)
        assert one.get("/api/auth/me").status_code == 401


def _ask(proxy: str, key: str) -> tuple[str, str]:
    """One chat completion through the openai SDK: its answer and the proxy's request id."""
    client = openai.OpenAI(base_url=f"{proxy}/v1", api_key=key, max_retries=0, timeout=30)
    with client:
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    reply = raw.parse()
    return str(reply.choices[0].message.content), raw.headers["x-request-id"]


def _stored(swarm: Swarm, ids: list[str]) -> dict[str, int]:
    """Usage events in Postgres per request id."""
    quoted = ",".join(f"'{i}'" for i in ids if re.fullmatch(r"[0-9A-Za-z-]+", i))
    out = swarm.psql(
        f"SELECT request_id, count(*) FROM usage_events WHERE request_id IN ({quoted})"
        " AND NOT failed GROUP BY 1"
    )
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}


def _all_stored_once(swarm: Swarm, ids: list[str]) -> dict[str, int]:
    counts = eventually(
        lambda: (c := _stored(swarm, ids)) and len(c) == len(set(ids)) and c,
        what="every answered request stored",
        detail=lambda: f"{len(_stored(swarm, ids))} of {len(set(ids))}",
    )
    assert set(counts.values()) == {1}, counts
    return counts


def test_requests_through_both_proxies_are_stored_exactly_once(swarm: Swarm):
    key = str(swarm.state["key"])
    ids = [_ask(proxy, key)[1] for proxy in swarm.proxies() for _ in range(5)]
    assert len(set(ids)) == 10
    _all_stored_once(swarm, ids)
    assert _cursors(swarm) == 2  # one per outbox, kept by the leading collector


def _cursors(swarm: Swarm) -> int:
    return int(swarm.psql("SELECT count(*) FROM collector_cursors").strip())


def _kill_main_process(swarm: Swarm, container: str) -> None:
    """SIGKILL to the service's process inside its container (the child of the init)."""
    swarm.engine.docker(
        "exec", container, "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)"
    )  # fmt: skip


def _replaced(swarm: Swarm, victim: str) -> list[str] | None:
    """Both proxy containers, once the killed one's successor runs and is healthy."""
    now = swarm.containers("proxy")
    if len(now) != 2 or victim in now:
        return None
    health = swarm.engine.docker("inspect", "--format", "{{.State.Health.Status}}", *now).stdout
    return now if health.split() == ["healthy", "healthy"] else None


def test_a_proxy_replica_killed_mid_traffic_costs_no_event(swarm: Swarm):
    """Streams through both proxies; one replica's process gets SIGKILL. Swarm starts a new
    task in its slot on the same volumes, the collectors find it by DNS, and every stream
    answered 200 in full is stored exactly once."""
    key = str(swarm.state["key"])
    victim, survivor = swarm.containers("proxy")
    urls = [swarm.url(victim, 8317), swarm.url(survivor, 8317)]
    traffic = [SteadyTraffic(SimpleNamespace(proxy=url), key, workers=2) for url in urls]  # type: ignore[arg-type]
    started = time.monotonic()
    for flow in traffic:
        flow.__enter__()
    try:
        eventually(lambda: all(len(f.answered()) >= 3 for f in traffic), what="steady traffic")
        _kill_main_process(swarm, victim)
        replaced = eventually(
            lambda: _replaced(swarm, victim),
            limit=180,
            what="a new, healthy proxy task in the killed one's slot",
            detail=swarm.tasks,
        )
        budgets.record("swarm: killed proxy replaced and running", time.monotonic() - started, "s")
        after = len(traffic[1].outcomes)
        eventually(
            lambda: sum(o.complete for o in traffic[1].outcomes[after:]) >= 3,
            what="the other proxy keeps answering",
        )
    finally:
        for flow in traffic:
            flow.__exit__(None, None, None)
    answered = [o for flow in traffic for o in flow.answered()]
    assert {o.status for o in answered} == {200}
    ids = [str(o.request_id) for o in answered if o.complete]
    _all_stored_once(swarm, ids)
    cut = sum(not o.complete for o in answered)
    budgets.record("swarm: proxy SIGKILL, all complete streams stored", len(ids), "", f"{cut} cut")
    # The new task continues the killed one's outbox: a request through it is stored too.
    new = next(c for c in replaced if c != survivor)
    _all_stored_once(swarm, [_ask(swarm.url(new, 8317), key)[1]])  # healthy: it answers
    assert _cursors(swarm) == 2  # the same instance, no new cursor: its volume came along
