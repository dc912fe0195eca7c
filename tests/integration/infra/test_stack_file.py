"""infrastructure/stack.yml (Docker Swarm) keeps the properties the stack relies on: no virtual
IPs nor routing mesh (dnsrr, host-mode ports), secrets only from the environment, images as
variables with compose's defaults, one outbox volume per proxy slot, a one-shot migration; and
the docker CLI's own loader accepts it (`docker stack config`, the `compose config -q` of
Swarm). The stack running for real: tests/e2e/test_swarm_stack.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from ruamel.yaml import YAML

from .stack import INFRA, SECRETS, compose_model, dummy_env

STACK = INFRA / "stack.yml"
SERVICES = {"postgres", "migrate", "proxy", "collector", "dashboard"}
REFERENCE = re.compile(r"^\$\{([A-Z_][A-Z0-9_]*)(:-|:\?)([^}]*)\}$")
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN", "DATABASE_URL")


@pytest.fixture(scope="module")
def stack() -> dict:
    return YAML(typ="safe").load(STACK.read_text())


def test_services(stack):
    assert set(stack["services"]) == SERVICES


def test_every_service_resolves_to_its_tasks_not_a_virtual_ip(stack):
    for name, service in stack["services"].items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name


def test_only_dashboard_and_proxy_publish_and_only_in_host_mode(stack):
    published = {}
    for name, service in stack["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, dict) and port["mode"] == "host", (name, port)
            published[name] = (port["target"], port["published"])
    assert published == {
        "proxy": (8317, "${PROXY_PORT:-8317}"),
        "dashboard": (3000, "${DASHBOARD_PORT:-3000}"),
    }


def test_replicas_and_one_replica_per_node_by_default(stack):
    deploy = {name: s["deploy"] for name, s in stack["services"].items()}
    for name in ("proxy", "dashboard", "collector"):
        assert re.fullmatch(r"\$\{[A-Z_]+:-2\}", str(deploy[name]["replicas"])), name
    for name in ("proxy", "dashboard"):  # host-mode ports: two on one node would collide
        per_node = deploy[name]["placement"]["max_replicas_per_node"]
        assert re.fullmatch(r"\$\{[A-Z_]+:-1\}", str(per_node)), name
    assert deploy["postgres"]["replicas"] == 1


def test_no_secret_is_written_in_the_file(stack):
    """Every secret-looking variable comes from the environment (`${NAME...}`), never a
    literal; the required ones fail the deploy with a message when missing."""
    for name, service in stack["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if key in SECRETS or any(word in key for word in SECRET_WORDS):
                assert value is None or REFERENCE.match(str(value)), (name, key, value)
            if key in SECRETS:
                assert REFERENCE.match(str(value))[2] == ":?", (name, key)  # type: ignore[index]
    assert "secrets" not in stack  # the model of docker-compose.yml: .env (DESIGN.md section 3)


def test_required_variable_messages_have_no_dash(stack):
    """The docker CLI reads `${VAR:?a-b}` as `${VAR-...}` (a default!): a dash in a message
    silently replaces a missing secret with the message's tail."""
    for message in re.findall(r"\$\{[A-Z_]+:\?([^}]*)\}", STACK.read_text()):
        assert "-" not in message, message


def test_images_are_variables_with_the_compose_defaults(stack, tmp_path):
    compose_text = (INFRA / "docker-compose.yml").read_text()
    for name, service in stack["services"].items():
        found = REFERENCE.match(service["image"])
        assert found and found[2] == ":-", (name, service["image"])
        assert f"{found[0]}" in compose_text, f"{name}: {found[0]} differs from compose"
    assert compose_model(dummy_env(tmp_path / ".env"))  # compose's own file still loads


def test_each_proxy_slot_has_its_own_volumes(stack):
    mounts = [m.split(":")[0] for m in stack["services"]["proxy"]["volumes"]]
    assert len(mounts) == 3
    for volume in mounts:
        assert "{{.Task.Slot}}" in stack["volumes"][volume]["name"], volume
    update = stack["services"]["proxy"]["deploy"]["update_config"]
    assert update["order"] == "stop-first"  # never two tasks on one outbox


def test_the_migration_is_a_one_shot_and_the_services_wait_for_its_schema(stack):
    services = stack["services"]
    assert services["migrate"]["deploy"]["restart_policy"]["condition"] == "on-failure"
    for name in ("collector", "dashboard"):
        script = services[name]["entrypoint"][2]
        assert "gateway-healthcheck --schema" in script, name
        # Not killed as unhealthy while it waits: the start period outlasts the wait.
        polls, pause = re.search(r"seq (\d+)\).*sleep ([\d.]+)", script).groups()  # type: ignore[union-attr]
        start_period = int(services[name]["healthcheck"]["start_period"].removesuffix("s"))
        assert start_period > int(polls) * float(pause), name


def test_dashboards_and_collectors_find_every_proxy_replica_by_dns(stack):
    for name in ("collector", "dashboard"):
        assert stack["services"][name]["environment"]["PROXY_URL"] == "dns+http://tasks.proxy:8317"


def test_no_docker_socket_in_the_swarm_stack(stack):
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            assert "docker.sock" not in str(volume), name


def _stack_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI here")
    # `docker stack config --help` exits 0 on a CLI without it too (it shows `stack`'s help).
    commands = subprocess.run([docker, "stack", "--help"], capture_output=True, text=True).stdout
    if not re.search(r"(?m)^\s+config\s", commands):
        pytest.skip("this docker CLI has no `stack config` (CLI 24 or newer has)")
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [docker, "stack", "config", "-c", str(STACK)],
        env=base | {"DOCKER_HOST": "unix:///nonexistent"} | env,
        capture_output=True,
        text=True,
    )


def test_the_docker_cli_loads_it(tmp_path):
    env = dict(line.split("=", 1) for line in dummy_env(tmp_path / ".env").read_text().splitlines()
               if re.match(r"^[A-Z_]+=", line))  # fmt: skip
    env["DATABASE_URL"] = "postgresql://gateway:pw@postgres:5432/gateway"
    result = _stack_config(env)
    assert result.returncode == 0, result.stderr
    model = YAML(typ="safe").load(result.stdout)
    assert model["services"]["proxy"]["deploy"]["placement"]["max_replicas_per_node"] == 1
    assert model["services"]["proxy"]["ports"][0]["published"] == 8317
    del env["DATABASE_URL"]
    missing = _stack_config(env)
    assert missing.returncode != 0
    assert "DATABASE_URL" in missing.stderr
