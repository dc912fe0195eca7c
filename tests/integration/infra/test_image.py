"""The Dockerfile lints clean and its entrypoint and health probe behave, run here directly."""

from __future__ import annotations

import asyncio
import re
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from services.core.migrate import MIGRATIONS_DIR, migrate
from services.proxy.config.loader import load_file
from tests.conftest import free_port

from .stack import BIN, INFRA

ENTRYPOINT = INFRA / "docker" / "entrypoint.sh"
HEALTHCHECK = INFRA / "docker" / "healthcheck.sh"
HEALTHCHECK_DB = INFRA / "docker" / "healthcheck.py"


def test_hadolint_passes():
    result = subprocess.run(
        [str(BIN / "hadolint"), str(INFRA / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck():
    result = subprocess.run(
        [str(BIN / "shellcheck"), str(INFRA / "manage.sh"), str(ENTRYPOINT), str(HEALTHCHECK)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_dockerfile_runs_as_non_root_with_a_healthcheck():
    text = (INFRA / "Dockerfile").read_text()
    users = re.findall(r"(?m)^USER\s+(\S+)", text)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"(?m)^HEALTHCHECK .*gateway-healthcheck", text)
    assert "uv sync --frozen --no-dev --no-install-project" in text
    assert re.search(r"(?m)^FROM \$\{PYTHON_IMAGE\} AS runtime", text)
    assert "python:3.11-slim" in text
    assert "npm ci" in text and "tools.assets" in text


def test_dockerfile_builds_with_the_classic_builder_too():
    """Compose without buildx falls back to the classic builder, which rejects BuildKit-only
    syntax; a `# syntax=` line would fetch a frontend from Docker Hub."""
    text = (INFRA / "Dockerfile").read_text()
    assert not re.search(r"(?im)^#\s*syntax\s*=", text)
    text = re.sub(r"(?m)^\s*#.*\n", "", text)  # comments may name what is not used
    assert "--mount" not in text
    assert not re.search(r"(?m)^(COPY|ADD)\b.*--(chmod|link|parents|exclude)", text)
    assert "<<" not in text  # heredocs
    assert re.findall(r"(?m)^ARG (\w+)=", text)[:2] == ["PYTHON_IMAGE", "NODE_IMAGE"]


def _entrypoint(config, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command, "--config", str(config)],
        capture_output=True,
        text=True,
    )


def test_entrypoint_writes_a_default_proxy_config_once(tmp_path):
    """First start: a valid config listening on all interfaces inside the container."""
    config = tmp_path / "config" / "config.yaml"
    result = _entrypoint(config, "true")
    assert result.returncode == 0, result.stderr
    loaded = load_file(config)
    assert loaded.config.host == "0.0.0.0"
    assert loaded.config.port == 8317
    assert loaded.config.api_keys == []
    assert loaded.config.auth_dir == "/var/lib/gateway/auths"
    assert loaded.config.usage_dir == "/var/lib/gateway/data/usage"
    assert loaded.warnings == ()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    config.write_text("port: 9000\n")
    assert _entrypoint(config, "true").returncode == 0
    assert config.read_text() == "port: 9000\n"


def test_entrypoint_execs_the_command_with_its_exit_code(tmp_path):
    result = _entrypoint(tmp_path / "c.yaml", "sh", "-c", 'echo "ran $0"; exit 7')
    assert result.returncode == 7
    assert "ran --config" in result.stdout


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        raw_path = self.requestline.split()[1]  # self.path folds "//healthz" into "/healthz"
        self.send_response(200 if raw_path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = HTTPServer(("127.0.0.1", free_port()), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _probe(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run(["bash", str(HEALTHCHECK), *args], env=env).returncode


def test_health_probe_wants_a_2xx(health_server):
    assert _probe(f"{health_server}/healthz") == 0
    assert _probe(f"{health_server}/degraded") == 1
    assert _probe(f"http://127.0.0.1:{free_port()}/healthz") == 1
    assert _probe("https://127.0.0.1/healthz") == 1  # only plain http inside the container
    port = health_server.rsplit(":", 1)[1]
    assert _probe(env={"HEALTHCHECK_URL": f"{health_server}/healthz"}) == 0
    assert _probe(f"http://127.0.0.1:{port}") == 1  # "/" answers 503 here


def test_health_probe_checks_the_database(empty_database_url):
    def probe(url: str) -> int:
        args = [sys.executable, str(HEALTHCHECK_DB), "--database"]
        return subprocess.run(args, env={"DATABASE_URL": url}).returncode

    assert probe(empty_database_url) == 0
    assert probe(f"postgresql://nobody@127.0.0.1:{free_port()}/none") == 1


def test_schema_probe_waits_for_every_migration_of_the_image(empty_database_url, tmp_path):
    """`--schema` (what stack.yml's services wait for) says yes only once the database holds
    every migration file of the image: not before the migration ran, not half way."""

    def probe(url: str = empty_database_url, migrations=MIGRATIONS_DIR) -> int:
        args = [sys.executable, str(HEALTHCHECK_DB), "--schema", str(migrations)]
        return subprocess.run(args, env={"DATABASE_URL": url}).returncode

    assert probe() == 1  # no schema_migrations table yet
    partial = tmp_path / "migrations"
    partial.mkdir()
    first = sorted(MIGRATIONS_DIR.glob("0*.sql"))[0]
    (partial / first.name).write_text(first.read_text())
    asyncio.run(migrate(empty_database_url, partial))
    assert probe() == 1  # one of the image's migrations applied, the others not
    asyncio.run(migrate(empty_database_url))
    assert probe() == 0
    assert probe(f"postgresql://nobody@127.0.0.1:{free_port()}/none") == 1
