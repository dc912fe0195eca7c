"""The Compose stack validates, and keeps the seed's security posture (SECURITY.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from .stack import INFRA, OAUTH_PORTS, SECRETS, compose, compose_model, dummy_env

# The seed's set plus DISTRIBUTION: the Updates page compares the running image's digest with
# the registry's through the engine's /distribution endpoint (read-only).
ALLOWED = {"CONTAINERS", "IMAGES", "POST", "NETWORKS", "DISTRIBUTION"}
DENIED = {
    "VOLUMES", "EXEC", "BUILD", "COMMIT", "SWARM", "SERVICES", "NODES", "CONFIGS",
    "SECRETS", "PLUGINS", "SYSTEM", "TASKS", "AUTH", "SESSION",
}  # fmt: skip
LONG_RUNNING = {"postgres", "proxy", "collector", "dashboard", "docker-proxy"}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> dict:
    return compose_model(dummy_env(tmp_path_factory.mktemp("env") / ".env"))


def test_config_is_valid(tmp_path):
    """`docker-compose config -q` accepts the file with a filled-in .env."""
    result = compose(dummy_env(tmp_path / ".env"), "config", "-q")
    assert result.returncode == 0, result.stderr


def test_config_without_secrets_names_the_missing_variable(tmp_path):
    empty = tmp_path / ".env"
    empty.write_text("")
    result = compose(empty, "config", "-q")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr
    assert "manage.sh init" in result.stderr


def test_services(model):
    assert set(model["services"]) == LONG_RUNNING | {"migrate"}


def test_only_dashboard_proxy_and_oauth_ports_are_published(model):
    """3000 and 8317 on 127.0.0.1 only; nothing else but the OAuth callback ports."""
    published: dict[int, str] = {}
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            published[int(port["published"])] = port.get("host_ip", "0.0.0.0")
            assert name in ("dashboard", "proxy"), f"{name} publishes a port"
    assert set(published) == {3000, 8317} | OAUTH_PORTS
    assert published[3000] == "127.0.0.1"
    assert published[8317] == "127.0.0.1"


def test_postgres_and_docker_proxy_only_on_the_internal_network(model):
    assert model["networks"]["backend"]["internal"] is True
    assert not model["networks"]["frontend"].get("internal", False)
    for name in ("postgres", "docker-proxy", "collector", "migrate"):
        assert set(model["services"][name]["networks"]) == {"backend"}, name
    for name in ("proxy", "dashboard"):
        assert set(model["services"][name]["networks"]) == {"frontend", "backend"}, name


def test_docker_proxy_denies_everything_but_the_seed_allow_set(model):
    proxy = model["services"]["docker-proxy"]
    assert proxy["image"].startswith("tecnativa/docker-socket-proxy")
    env = proxy["environment"]
    assert {k for k, v in env.items() if v == "1"} == ALLOWED
    assert {k for k, v in env.items() if v == "0"} == DENIED
    (mount,) = proxy["volumes"]
    assert mount["source"] == "/var/run/docker.sock"
    assert mount["read_only"] is True
    assert model["services"]["dashboard"]["environment"]["DOCKER_HOST"] == (
        "tcp://docker-proxy:2375"
    )
    # The dashboard acts only on its own project's containers.
    assert model["services"]["dashboard"]["environment"]["COMPOSE_PROJECT"] == model["name"]
    others = [n for n, s in model["services"].items() if n != "docker-proxy"]
    for name in others:
        mounts = model["services"][name].get("volumes", [])
        assert all("docker.sock" not in str(m.get("source")) for m in mounts), name


def test_every_service_has_a_healthcheck_limits_and_a_restart_policy(model):
    for name, service in model["services"].items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name
        assert service["deploy"]["resources"]["reservations"]["memory"], name
        expected = "no" if name == "migrate" else "unless-stopped"
        assert service["restart"] == expected, name


def test_start_order(model):
    """Collector and dashboard wait for the one-shot migration, which waits for the database
    itself; no start waits for a health status (it changes only at a probe interval)."""
    services = model["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_started"
    waits = " ".join(services["migrate"]["command"])
    assert "gateway-healthcheck --database" in waits and "services.core.migrate" in waits
    for name in ("collector", "dashboard"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["proxy"]["condition"] == "service_started", name
        assert "postgres" not in deps, name  # the migration's success implies it answers
    assert services["postgres"]["image"] == "postgres:16-alpine"
    assert any(v["target"] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"])


def test_proxy_keeps_config_auths_and_data_in_volumes(model):
    targets = {v["target"]: v for v in model["services"]["proxy"]["volumes"]}
    for folder in ("config", "auths", "data"):
        assert targets[f"/var/lib/gateway/{folder}"]["type"] == "volume"
    assert "/var/lib/gateway/config/config.yaml" in model["services"]["proxy"]["command"]


def test_app_containers_are_locked_down(model):
    for name in ("migrate", "proxy", "collector", "dashboard"):
        service = model["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_no_secret_is_written_in_the_file():
    """Every secret is interpolated from .env, never a literal value in the compose file."""
    doc = YAML(typ="safe").load((INFRA / "docker-compose.yml").read_text())
    for name, service in doc["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if key in SECRETS or key == "DATABASE_URL":
                assert str(value).startswith("${"), f"{name}.{key} is not from .env"


def test_each_service_gets_only_the_secrets_it_uses(model):
    env = {n: set(s.get("environment", {})) for n, s in model["services"].items()}
    assert "JWT_SECRET" not in env["proxy"] | env["collector"]
    assert "PROVIDER_ENCRYPTION_KEY" not in env["proxy"] | env["collector"]
    assert "MANAGEMENT_API_KEY" not in env["collector"]
    assert "DATABASE_URL" not in env["proxy"]


def test_env_example_documents_every_design_variable():
    """DESIGN.md section 3's variables are all in .env.example; its secrets are refused."""
    from services.core.settings import PLACEHOLDERS

    text = (INFRA / ".env.example").read_text()
    for name in (
        "DATABASE_URL", "POSTGRES_PASSWORD", "JWT_SECRET", "MANAGEMENT_API_KEY",
        "COLLECTOR_API_KEY", "PROVIDER_ENCRYPTION_KEY", "DEPLOY_SECRET", "WEBHOOK_HOST",
        "DASHBOARD_URL", "API_URL", "PROXY_URL", "DOCKER_HOST", "LOG_LEVEL", "LOG_FORMAT", "TZ",
    ):  # fmt: skip
        assert name in text, name
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    for name in SECRETS:
        assert values[name] in PLACEHOLDERS, name


def test_dockerignore_keeps_secrets_and_state_out_of_the_image():
    ignored = set(Path(INFRA.parent / ".dockerignore").read_text().split())
    for entry in (".git", ".venv", ".run", "infrastructure/.env", "infrastructure/backups"):
        assert entry in ignored, entry


OVERRIDES = {
    "GATEWAY_IMAGE": "registry.test/gateway:1",
    "PYTHON_IMAGE": "registry.test/python:3.11",
    "NODE_IMAGE": "registry.test/node:20",
    "POSTGRES_IMAGE": "registry.test/postgres:16",
    "DOCKER_SOCKET_PROXY_IMAGE": "registry.test/socket-proxy:1",
    "PROXY_PORT": "18317",
    "DASHBOARD_PORT": "13000",
    "OAUTH_GEMINI_PORT": "18085",
    "OAUTH_CODEX_PORT": "11455",
    "OAUTH_CLAUDE_PORT": "15454",
    "OAUTH_ANTIGRAVITY_PORT": "15112",
    "OAUTH_IFLOW_PORT": "11452",
    "DOCKER_SOCKET": "/run/user/1000/docker.sock",
}


def _published(service: dict) -> dict[int, tuple[str, int]]:
    return {
        int(p["target"]): (p.get("host_ip", "0.0.0.0"), int(p["published"]))
        for p in service.get("ports", [])
    }


def test_images_are_variables_with_the_official_defaults(model):
    services = model["services"]
    assert services["postgres"]["image"] == "postgres:16-alpine"
    assert services["docker-proxy"]["image"] == "tecnativa/docker-socket-proxy:latest"
    for name in ("migrate", "proxy", "collector", "dashboard"):
        assert services[name]["image"] == "llm-gateway:local", name
        assert services[name]["build"]["args"] == {
            "PYTHON_IMAGE": "python:3.11-slim-bookworm",
            "NODE_IMAGE": "node:20-bookworm-slim",
        }


def test_a_second_stack_can_move_every_image_port_and_the_socket(tmp_path):
    """With other images, host ports and socket, a test stack runs beside a real one."""
    env = dummy_env(tmp_path / ".env")
    env.write_text(env.read_text() + "".join(f"{k}={v}\n" for k, v in OVERRIDES.items()))
    services = compose_model(env)["services"]
    assert services["postgres"]["image"] == OVERRIDES["POSTGRES_IMAGE"]
    assert services["docker-proxy"]["image"] == OVERRIDES["DOCKER_SOCKET_PROXY_IMAGE"]
    assert services["proxy"]["image"] == OVERRIDES["GATEWAY_IMAGE"]
    assert services["proxy"]["build"]["args"] == {
        "PYTHON_IMAGE": OVERRIDES["PYTHON_IMAGE"],
        "NODE_IMAGE": OVERRIDES["NODE_IMAGE"],
    }
    proxy = _published(services["proxy"])
    assert proxy[8317] == ("127.0.0.1", 18317)
    assert {target: port for target, (_, port) in proxy.items() if target != 8317} == {
        8085: 18085, 1455: 11455, 54545: 15454, 51121: 15112, 11451: 11452,
    }  # fmt: skip
    assert _published(services["dashboard"]) == {3000: ("127.0.0.1", 13000)}
    (mount,) = services["docker-proxy"]["volumes"]
    assert (mount["source"], mount["target"]) == (
        OVERRIDES["DOCKER_SOCKET"],
        "/var/run/docker.sock",
    )


def test_health_checks_answer_within_seconds(model):
    """`up` waits for healthy containers: probes every 10 s at most (every second during the
    start period on engines that support start_interval), never the 30 s that made `up` take
    a minute."""
    for name, service in model["services"].items():
        check = service["healthcheck"]
        assert re.fullmatch(r"([1-9]|10)s", check["interval"]), name
        assert check["start_interval"] == "1s", name
