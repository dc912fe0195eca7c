"""No management route answers 500 (or hangs) on malformed input."""

from __future__ import annotations

from .test_access import all_routes

BODIES = [
    b"",
    b"null",
    b"123",
    b'"text"',
    b"[]",
    b"[null, 1, {}]",
    b"{",
    b"\xff\xfe\x00",
    b'{"index": 99999999999999999999999, "value": {"a": [1]}}',
    b'{"index": -1, "value": null, "old": 1, "new": []}',
    b'{"match": {}, "name": ["x"], "value": "s", "provider": 5, "models": {"a": 1}}',
    b'{"auth_index": {}, "url": 5, "header": null, "data": [1], "disabled": null}',
    b'{"items": {"a": "b"}, "channel": "", "aliases": "x"}',
    b'{"name": "\\u0000.json", "prefix": {"x": 1}, "headers": [1]}',
]
QUERIES = [
    {},
    {"index": "99999999999999999999", "name": "\x00", "value": ""},
    {"index": "-5", "api-key": "x", "base-url": "y", "all": "nope", "provider": "\x00"},
    {"limit": "1e9", "after": "nan", "cursor": "%%%", "count": "9" * 30},
]


async def test_no_route_answers_500_to_hostile_input(mgmt):
    await mgmt.ok_json("PUT", "/logging-to-file", json={"value": True})
    for method, path in all_routes(mgmt.client.app):
        for i, body in enumerate(BODIES):
            for query in (QUERIES[i % len(QUERIES)], QUERIES[(i + 1) % len(QUERIES)]):
                resp = await mgmt.client.request(
                    method,
                    path,
                    data=body,
                    params=query,
                    headers={"Authorization": f"Bearer {mgmt.ctx.management_key()}"},
                )
                assert resp.status < 500 or resp.status == 501, (
                    method,
                    path,
                    body,
                    query,
                    await resp.text(),
                )
                await resp.read()


async def test_unusual_yaml_values_still_serialize(mgmt):
    weird = "port: 8317\nweird:\n  1: a\n  2020-01-01: b\n  ~: c\n  when: 2021-02-03T04:05:06Z\n"
    resp = await mgmt.call("PUT", "/config.yaml", data=weird)
    assert resp.status == 200
    body = await mgmt.ok_json("GET", "/config")
    assert body["weird"]["1"] == "a"


async def test_malformed_multipart_uploads_are_400(mgmt):
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n\r\n{}'
    cases = [
        ("multipart/form-data", b"garbage"),
        ("multipart/form-data; boundary=x", b"garbage"),
        ("multipart/form-data; boundary=x", part),  # never terminated
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n\r\n--x--\r\n"),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y--\r\n--x--\r\n",
        ),
    ]
    for content_type, body in cases:
        resp = await mgmt.call(
            "POST", "/auth-files", data=body, headers={"Content-Type": content_type}
        )
        assert resp.status == 400, (content_type, body, await resp.text())
    assert not mgmt.auth_dir.exists() or not any(mgmt.auth_dir.iterdir())
