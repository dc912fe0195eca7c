"""The nginx template: a real nginx in front of fake dashboard and proxy backends."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.conftest import free_port

from .stack import INFRA

TEMPLATE = INFRA / "nginx" / "llm-gateway.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HAVE_NGINX = Path(NGINX).exists()


def test_template_substitutes_only_the_host_names():
    """envsubst with the documented variable list leaves nginx's own $variables alone."""
    rendered = subprocess.run(
        ["envsubst", "${DASHBOARD_HOST} ${API_HOST}"],
        input=TEMPLATE.read_text(),
        env={"DASHBOARD_HOST": "dash.example.com", "API_HOST": "api.example.com"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "${" not in rendered.split("\n# Certificates")[1]
    assert "server_name api.example.com;" in rendered
    assert "/etc/letsencrypt/live/dash.example.com/fullchain.pem" in rendered
    assert "X-Forwarded-For $remote_addr" in rendered


def _render(tmp: Path, *, tls: int, http: int, dash: int, api: int) -> Path:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=test", "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    text = TEMPLATE.read_text()
    text = text.replace("${DASHBOARD_HOST}", "dash.test").replace("${API_HOST}", "api.test")
    text = re.sub(r"/etc/letsencrypt/live/[^/]+/fullchain\.pem", str(tmp / "cert.pem"), text)
    text = re.sub(r"/etc/letsencrypt/live/[^/]+/privkey\.pem", str(tmp / "key.pem"), text)
    text = re.sub(r"(?m)^\s*listen \[::\].*\n", "", text)
    text = text.replace("listen 443 ssl", f"listen 127.0.0.1:{tls} ssl")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http};")
    text = text.replace("127.0.0.1:3000", f"127.0.0.1:{dash}")
    text = text.replace("127.0.0.1:8317", f"127.0.0.1:{api}")
    (tmp / "site.conf").write_text(text)
    temp_paths = "".join(
        f"{kind}_temp_path {tmp}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp / "nginx.conf").write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp_paths}include {tmp}/site.conf;\n}}\n"
    )
    return tmp / "nginx.conf"


class Backends:
    """Fake dashboard and proxy: they record what reached them; /stream waits on the test."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.release = asyncio.Event()

    def app(self, name: str) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.seen.append((name, request.path, dict(request.headers)))
            if request.path != "/stream":
                return web.json_response({"backend": name, "path": request.path})
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"data: first\n\n")
            # The last chunk is only sent once the client has seen the first one.
            await asyncio.wait_for(self.release.wait(), 20)
            await response.write(b"data: last\n\n")
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


@pytest.fixture
def rendered(tmp_path) -> tuple[Path, dict[str, int]]:
    if not HAVE_NGINX:
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    ports = {k: free_port() for k in ("tls", "http", "dash", "api")}
    return _render(tmp_path, **ports), ports


@pytest.fixture
async def stack(rendered):
    conf, ports = rendered
    backends = Backends()
    runners = []
    for name in ("dash", "api"):
        runner = web.AppRunner(backends.app(name))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", ports[name]).start()
        runners.append(runner)
    proc = await asyncio.create_subprocess_exec(
        NGINX, "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off; master_process off;",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    client = httpx.AsyncClient(verify=False, timeout=10)
    deadline = time.monotonic() + 10
    while True:
        try:
            await client.get(f"http://127.0.0.1:{ports['http']}/", headers={"Host": "api.test"})
            break
        except httpx.TransportError:
            assert proc.returncode is None, "nginx exited at start"
            assert time.monotonic() < deadline, "nginx did not start"
            await asyncio.sleep(0.05)
    yield backends, ports, client
    await client.aclose()
    proc.terminate()
    await asyncio.wait_for(proc.wait(), 10)
    for runner in runners:
        await runner.cleanup()


def _url(ports, path: str) -> str:
    return f"https://127.0.0.1:{ports['tls']}{path}"


async def test_api_host_refuses_management_and_usage_apis(stack):
    backends, ports, client = stack
    for path in ("/v0/management/config", "/v0/usage/events", "/v0/management/api-keys"):
        response = await client.get(_url(ports, path), headers={"Host": "api.test"})
        assert response.status_code == 403, path
    metrics = await client.get(_url(ports, "/metrics"), headers={"Host": "api.test"})
    assert metrics.status_code == 404
    assert backends.seen == []


async def test_hosts_route_to_their_backend_with_forwarded_headers(stack):
    backends, ports, client = stack
    spoofed = {"Host": "api.test", "X-Forwarded-For": "203.0.113.9"}
    api = await client.get(_url(ports, "/v1/models"), headers=spoofed)
    assert api.json() == {"backend": "api", "path": "/v1/models"}
    dash = await client.get(_url(ports, "/api/health"), headers={"Host": "dash.test"})
    assert dash.json() == {"backend": "dash", "path": "/api/health"}
    headers = backends.seen[0][2]
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["Host"] == "api.test"
    assert api.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_plain_http_redirects_to_https(stack):
    _, ports, client = stack
    url = f"http://127.0.0.1:{ports['http']}/v1/models"
    response = await client.get(url, headers={"Host": "api.test"})
    assert response.status_code == 301
    assert response.headers["Location"] == "https://api.test/v1/models"


async def test_streams_are_not_buffered(stack):
    """The first SSE chunk reaches the client while the upstream is still holding the last."""
    backends, ports, client = stack
    request = client.build_request("POST", _url(ports, "/stream"), headers={"Host": "api.test"})
    response = await client.send(request, stream=True)
    chunks = response.aiter_bytes()
    first = await asyncio.wait_for(anext(chunks), 10)
    assert first.startswith(b"data: first")
    backends.release.set()
    rest = b"".join([chunk async for chunk in chunks])
    assert b"data: last" in rest
    await response.aclose()
