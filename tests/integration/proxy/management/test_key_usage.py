"""`GET /api-key-usage` in CLIProxyAPI's shape, from the proxy's per-credential counters."""

from __future__ import annotations

from services.proxy.management import AuthStats, CredentialInfo, RequestBucket
from services.proxy.routing.credentials import build_credentials


def buckets(*pairs: tuple[int, int]) -> tuple[RequestBucket, ...]:
    return tuple(
        RequestBucket(f"2026-01-01T00:{10 * i:02d}:00Z", ok, bad)
        for i, (ok, bad) in enumerate(pairs)
    )


def make_live(mgmt) -> dict[tuple[str, str], str]:
    """Register every credential of the config as live; (channel, secret) -> auth_index."""
    ids = {}
    for cred in build_credentials(mgmt.ctx.store.current.config):
        mgmt.fakes.credentials[cred.id] = CredentialInfo(cred.provider, cred.base_url, cred.secret)
        ids[(cred.channel, cred.secret)] = cred.id
    return ids


async def test_usage_is_grouped_by_provider_and_base_url_with_key(mgmt):
    ids = make_live(mgmt)
    mgmt.fakes.stats[ids[("claude", "sk-ant-first")]] = AuthStats(
        success=5, failed=2, recent_requests=buckets((1, 0), (4, 2))
    )
    mgmt.fakes.stats[ids[("local", "sk-local-1")]] = AuthStats(success=1)
    body = await mgmt.ok_json("GET", "/api-key-usage")
    assert body == {
        "claude": {
            "https://api.anthropic.com|sk-ant-first": {
                "success": 5,
                "failed": 2,
                "recent_requests": [
                    {"time": "2026-01-01T00:00:00Z", "success": 1, "failed": 0},
                    {"time": "2026-01-01T00:10:00Z", "success": 4, "failed": 2},
                ],
            },
            "|sk-ant-second": {"success": 0, "failed": 0, "recent_requests": []},
        },
        "local": {
            "http://127.0.0.1:9/v1|sk-local-1": {"success": 1, "failed": 0, "recent_requests": []}
        },
    }


async def test_keys_without_a_live_credential_are_left_out(mgmt):
    make_live(mgmt)
    await mgmt.ok_json(
        "PATCH", "/openai-compatibility", json={"index": 0, "value": {"disabled": True}}
    )
    mgmt.fakes.credentials.clear()
    make_live(mgmt)  # the disabled provider has no credential any more
    body = await mgmt.ok_json("GET", "/api-key-usage")
    assert set(body) == {"claude"}


async def test_the_same_key_written_twice_is_one_entry_with_counts_added(mgmt):
    await mgmt.ok_json(
        "PUT",
        "/vertex-api-key",
        json=[{"api-key": "vx", "prefix": "a"}, {"api-key": "vx", "prefix": "b"}],
    )
    make_live(mgmt)
    [index] = {i for i in mgmt.fakes.credentials if mgmt.fakes.credentials[i].kind == "vertex"}
    mgmt.fakes.stats[index] = AuthStats(success=2, failed=1, recent_requests=buckets((2, 1)))
    body = await mgmt.ok_json("GET", "/api-key-usage")
    assert body["vertex"] == {
        "|vx": {
            "success": 4,
            "failed": 2,
            "recent_requests": [{"time": "2026-01-01T00:00:00Z", "success": 4, "failed": 2}],
        }
    }
