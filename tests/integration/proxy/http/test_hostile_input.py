"""Bad input gets a fast 4xx in OpenAI's error format and never reaches the upstream."""

from __future__ import annotations

import io

import aiohttp
import pytest

from ..harness import CLIENT_KEY, compat_config, run_proxy

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"}
URL = "/v1/chat/completions"


@pytest.fixture
async def proxy(fake, tmp_path):
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px:
        yield px


async def _call(proxy, data, headers=HEADERS, path=URL) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(proxy.base_url + path, data=data, headers=headers) as resp:
            return resp.status, await resp.json()


async def test_oversized_body_gets_413_at_once(proxy, fake):
    """A 40 MB body is refused with 413 before it is read, in OpenAI's error shape."""
    status, body = await _call(proxy, io.BytesIO(b"x" * (40 * 1024 * 1024)))
    assert status == 413
    assert body["error"]["type"] == "request_too_large"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"messages": []}', 400, "missing_model"),
        (b'{"model": 42, "messages": []}', 400, "missing_model"),
        (b'{"model": "no-such-model", "messages": []}', 404, "model_not_found"),
    ],
)
async def test_bad_bodies_get_clear_4xx(proxy, fake, data, status, code):
    """Invalid JSON, a missing model and an unknown model are answered without the upstream."""
    got, body = await _call(proxy, data)
    assert got == status
    assert body["error"]["code"] == code and body["error"]["message"]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", "Missing API key"),
        ({"Authorization": "Bearer sk-nope"}, "", "Invalid API key"),
        ({"x-api-key": CLIENT_KEY}, "", None),
        ({"x-goog-api-key": CLIENT_KEY}, "", None),
        ({}, f"?key={CLIENT_KEY}", None),
    ],
)
async def test_client_key_sources(proxy, headers, query, expected):
    """The key is accepted from every documented place; missing and wrong keys are 401."""
    status, body = await _call(
        proxy,
        b'{"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}',
        {**headers, "Content-Type": "application/json"},
        URL + query,
    )
    if expected is None:
        assert status == 200
    else:
        assert (status, body["error"]["message"], body["error"]["type"]) == (
            401,
            expected,
            "authentication_error",
        )


async def test_no_keys_configured_refuses_everything(fake, tmp_path):
    """With an empty api-keys list the proxy is closed, not open."""
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["k"], **{"api-keys": []})) as px:
        status, body = await _call(px, b'{"model": "gpt-test", "messages": []}')
    assert status == 401 and "No API keys are configured" in body["error"]["message"]


async def test_no_credentials_is_503(tmp_path):
    """A proxy without any upstream credential answers 503, not 404."""
    async with run_proxy(tmp_path, {"api-keys": [CLIENT_KEY]}) as px:
        status, body = await _call(px, b'{"model": "anything", "messages": []}')
    assert status == 503 and body["error"]["code"] == "auth_unavailable"


async def test_health_and_metrics_have_no_secrets(proxy):
    """/healthz answers without auth; /metrics counts requests and shows no key material."""
    await _call(proxy, b'{"model": "gpt-test", "messages": []}')
    async with aiohttp.ClientSession() as session:
        async with session.get(proxy.base_url + "/healthz") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
        async with session.get(proxy.base_url + "/metrics") as resp:
            text = await resp.text()
    assert "proxy_requests_total" in text and "proxy_upstream_attempts_total" in text
    assert CLIENT_KEY not in text and '"k"' not in text
