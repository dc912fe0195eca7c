"""Auth files: list, models, download, upload, delete, status and field patches."""

from __future__ import annotations

import hashlib
import io
import json
import stat

import aiohttp
import pytest

from services.proxy.management import AuthStats, ModelInfo, RequestBucket, auth_file_index

CLAUDE = {
    "type": "claude",
    "email": "dev@example.com",
    "access_token": "sk-ant-oat01-secret-access-token-value",
    "refresh_token": "sk-ant-ort01-secret-refresh-token-value",
    "last_refresh": "2026-01-01T00:00:00Z",
    "priority": 2,
    "note": "team account",
    "vendor_extra": {"keep": True},
}
CODEX = {
    "type": "codex",
    "email": "c@example.com",
    "id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig",
}


def form(*files):
    data = aiohttp.FormData()
    for name, content in files:
        raw = content if isinstance(content, bytes) else json.dumps(content).encode()
        data.add_field("file", io.BytesIO(raw), filename=name, content_type="application/json")
    return data


async def upload(mgmt, *files):
    return await mgmt.call("POST", "/auth-files", data=form(*files))


def on_disk(mgmt, name):
    return json.loads((mgmt.auth_dir / name).read_text())


async def test_multipart_upload_of_several_files(mgmt):
    resp = await upload(mgmt, ("claude-dev.json", CLAUDE), ("codex-c.json", CODEX))
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ok",
        "uploaded": 2,
        "files": ["claude-dev.json", "codex-c.json"],
        "failed": [],
    }
    assert on_disk(mgmt, "claude-dev.json") == CLAUDE
    mode = stat.S_IMODE((mgmt.auth_dir / "claude-dev.json").stat().st_mode)
    assert mode == 0o600
    assert sorted(p.name for p in mgmt.auth_dir.iterdir()) == ["claude-dev.json", "codex-c.json"]


async def test_raw_upload_with_name(mgmt):
    resp = await mgmt.call("POST", "/auth-files", params={"name": "raw.json"}, json=CODEX)
    assert resp.status == 200
    assert (await resp.json())["files"] == ["raw.json"]
    assert on_disk(mgmt, "raw.json") == CODEX


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("../x.json", "invalid name"),
        ("a/b.json", "invalid name"),
        ("a\\b.json", "invalid name"),
        (".hidden.json", "invalid name"),
        (".json", "invalid name"),
        ("x.txt", "name must end with .json"),
        ("", "name must end with .json"),
    ],
)
async def test_unsafe_names_are_refused(mgmt, name, error):
    resp = await mgmt.call("POST", "/auth-files", params={"name": name}, json=CODEX)
    assert resp.status == 400
    assert await resp.json() == {"error": error}
    resp = await upload(mgmt, ("good.json", CODEX), (name or "noname", CODEX))
    assert resp.status == 207
    body = await resp.json()
    assert body["status"] == "partial" and body["files"] == ["good.json"]
    assert [f["error"] for f in body["failed"]] == [error if name else "name must end with .json"]
    assert not (mgmt.auth_dir.parent / "x.json").exists()
    assert sorted(p.name for p in mgmt.auth_dir.iterdir()) == ["good.json"]


async def test_unsafe_names_sent_as_browsers_send_them(mgmt):
    """A hand-built multipart body with literal traversal and hidden names writes nothing."""
    boundary = "XyZ"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/json\r\n\r\n{{}}\r\n"
        for name in ("../x.json", "a/b.json", ".hidden", "../../etc/passwd.json")
    )
    resp = await mgmt.call(
        "POST",
        "/auth-files",
        data=f"{parts}--{boundary}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert resp.status == 400
    body = await resp.json()
    assert [f["name"] for f in body["failed"]] == [
        "../x.json",
        "a/b.json",
        ".hidden",
        "../../etc/passwd.json",
    ]
    assert body["uploaded"] == 0
    assert not mgmt.auth_dir.exists() or not any(mgmt.auth_dir.iterdir())
    assert not (mgmt.auth_dir.parent / "x.json").exists()


@pytest.mark.parametrize("content", [b"[1, 2]", b"not json", b'"a string"'])
async def test_non_object_content_is_refused(mgmt, content):
    resp = await mgmt.call("POST", "/auth-files", params={"name": "x.json"}, data=content)
    assert resp.status == 400
    resp = await upload(mgmt, ("x.json", content))
    assert resp.status == 400
    assert (await resp.json())["status"] == "error"
    assert not (mgmt.auth_dir / "x.json").exists()


async def test_ten_megabyte_files_are_refused(mgmt):
    big = b'{"type": "claude", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    resp = await mgmt.call("POST", "/auth-files", params={"name": "big.json"}, data=io.BytesIO(big))
    assert resp.status == 413
    resp = await upload(mgmt, ("big.json", big))
    assert resp.status == 413
    assert not mgmt.auth_dir.exists() or not any(mgmt.auth_dir.iterdir())


async def test_upload_without_files_is_refused(mgmt):
    data = aiohttp.FormData()
    data.add_field("other", "value")
    data.add_field("file2", io.BytesIO(b"{}"), filename="ok.json")  # any file field counts
    resp = await mgmt.call("POST", "/auth-files", data=data)
    assert resp.status == 200
    empty = aiohttp.FormData()
    empty.add_field("other", "value")
    resp = await mgmt.call("POST", "/auth-files", data=empty)
    assert resp.status == 400


async def test_listing_fields_and_no_secrets(mgmt):
    await upload(mgmt, ("claude-dev.json", CLAUDE), ("codex-c.json", CODEX))
    (mgmt.auth_dir / "broken.json").write_text("{oops")
    (mgmt.auth_dir / ".hidden.json").write_text("{}")
    index = auth_file_index("claude", "claude-dev.json")
    mgmt.fakes.stats[index] = AuthStats(
        success=7,
        failed=2,
        unavailable=True,
        status_message="cooling down",
        next_retry_after="2026-01-01T00:30:00Z",
        recent_requests=(RequestBucket("2026-01-01T00:00:00Z", 3, 1),),
    )
    resp = await mgmt.call("GET", "/auth-files")
    text = await resp.text()
    for secret in (CLAUDE["access_token"], CLAUDE["refresh_token"], CODEX["id_token"]):
        assert secret not in text
    files = {f["name"]: f for f in (await resp.json())["files"]}
    assert sorted(files) == ["broken.json", "claude-dev.json", "codex-c.json"]
    claude = files["claude-dev.json"]
    assert claude["auth_index"] == index
    assert index == hashlib.sha256(b"auth-file\x00claude\x00claude-dev.json").hexdigest()[:16]
    expected = {
        "id": "claude-dev.json",
        "type": "claude",
        "provider": "claude",
        "label": "dev@example.com",
        "email": "dev@example.com",
        "status": "error",
        "status_message": "cooling down",
        "disabled": False,
        "unavailable": True,
        "runtime_only": False,
        "source": "file",
        "priority": 2,
        "weight": 1,
        "note": "team account",
        "last_refresh": "2026-01-01T00:00:00Z",
        "next_retry_after": "2026-01-01T00:30:00Z",
        "success": 7,
        "failed": 2,
        "recent_requests": [{"time": "2026-01-01T00:00:00Z", "success": 3, "failed": 1}],
    }
    assert {k: claude[k] for k in expected} == expected
    assert claude["size"] == (mgmt.auth_dir / "claude-dev.json").stat().st_size
    assert claude["modtime"].endswith("Z")
    assert files["codex-c.json"]["status"] == "active"
    assert files["broken.json"]["status"] == "error"
    only = await mgmt.ok_json("GET", "/auth-files", params={"auth_index": index})
    assert [f["name"] for f in only["files"]] == ["claude-dev.json"]
    only = await mgmt.ok_json("GET", "/auth-files", params={"name": "codex-c.json"})
    assert [f["name"] for f in only["files"]] == ["codex-c.json"]


async def test_listing_an_empty_or_missing_directory(mgmt):
    assert await mgmt.ok_json("GET", "/auth-files") == {"files": []}


async def test_download(mgmt):
    await upload(mgmt, ("claude-dev.json", CLAUDE))
    resp = await mgmt.call("GET", "/auth-files/download", params={"name": "claude-dev.json"})
    assert resp.status == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="claude-dev.json"'
    assert json.loads(await resp.read()) == CLAUDE
    for name, status in (("absent.json", 404), ("../config.yaml", 400), ("../x.json", 400)):
        resp = await mgmt.call("GET", "/auth-files/download", params={"name": name})
        assert resp.status == status


async def test_models_from_the_file_then_from_the_catalog(mgmt):
    with_models = {**CODEX, "models": ["gpt-5", {"id": "gpt-5-mini", "display_name": "Mini"}]}
    await upload(mgmt, ("codex-c.json", with_models), ("claude-dev.json", CLAUDE))
    body = await mgmt.ok_json("GET", "/auth-files/models", params={"name": "codex-c.json"})
    assert body == {
        "models": [
            {"id": "gpt-5", "display_name": "gpt-5"},
            {"id": "gpt-5-mini", "display_name": "Mini"},
        ]
    }
    index = auth_file_index("claude", "claude-dev.json")
    mgmt.fakes.models[index] = [ModelInfo("claude-sonnet-4-5", "Claude Sonnet 4.5")]
    body = await mgmt.ok_json("GET", "/auth-files/models", params={"name": "claude-dev.json"})
    assert body == {"models": [{"id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5"}]}
    assert (
        await mgmt.call("GET", "/auth-files/models", params={"name": "nope.json"})
    ).status == 404
    assert (await mgmt.call("GET", "/auth-files/models", params={"name": "a/b.json"})).status == 400


async def test_delete_by_name_body_and_all(mgmt):
    await upload(mgmt, *[(f"f{i}.json", CODEX) for i in range(5)])
    assert await mgmt.ok_json("DELETE", "/auth-files", params={"name": "f0.json"}) == {
        "status": "ok",
        "deleted": 1,
        "files": ["f0.json"],
        "failed": [],
    }
    resp = await mgmt.call(
        "DELETE", "/auth-files", json={"names": ["f1.json", "f2.json", "nope.json"]}
    )
    assert resp.status == 207
    body = await resp.json()
    assert body["files"] == ["f1.json", "f2.json"]
    assert body["failed"] == [{"name": "nope.json", "error": "file not found"}]
    assert (await mgmt.call("DELETE", "/auth-files", params={"name": "f0.json"})).status == 404
    assert (await mgmt.call("DELETE", "/auth-files", params={"name": "../x.json"})).status == 400
    assert (await mgmt.call("DELETE", "/auth-files")).status == 400
    assert (await mgmt.call("DELETE", "/auth-files", json={"names": [1]})).status == 400
    (mgmt.auth_dir / "keep.txt").write_text("not an auth file")
    assert await mgmt.ok_json("DELETE", "/auth-files", params={"all": "true"}) == {
        "status": "ok",
        "deleted": 2,
    }
    assert [p.name for p in mgmt.auth_dir.iterdir()] == ["keep.txt"]


async def test_patch_status_by_name_and_auth_index(mgmt):
    await upload(mgmt, ("claude-dev.json", CLAUDE))
    body = await mgmt.ok_json(
        "PATCH", "/auth-files/status", json={"name": "claude-dev.json", "disabled": True}
    )
    assert body == {"status": "ok", "disabled": True}
    assert on_disk(mgmt, "claude-dev.json") == {**CLAUDE, "disabled": True}
    listed = (await mgmt.ok_json("GET", "/auth-files"))["files"][0]
    assert (listed["disabled"], listed["status"]) == (True, "disabled")
    index = auth_file_index("claude", "claude-dev.json")
    await mgmt.ok_json("PATCH", "/auth-files/status", json={"auth_index": index, "disabled": False})
    assert on_disk(mgmt, "claude-dev.json")["disabled"] is False
    for body, status in (
        ({"name": "claude-dev.json", "disabled": "yes"}, 400),
        ({"disabled": True}, 400),
        ({"name": "nope.json", "disabled": True}, 404),
        ({"auth_index": "0000000000000000", "disabled": True}, 404),
        ({"name": "../x.json", "disabled": True}, 400),
    ):
        assert (await mgmt.call("PATCH", "/auth-files/status", json=body)).status == status


async def test_patch_fields_keeps_everything_else(mgmt):
    await upload(mgmt, ("claude-dev.json", CLAUDE))
    body = await mgmt.ok_json(
        "PATCH",
        "/auth-files/fields",
        json={
            "name": "claude-dev.json",
            "prefix": "team",
            "proxy_url": "socks5://127.0.0.1:1080",
            "headers": {"X-A": "1"},
            "priority": 5,
            "weight": 3,
            "note": None,
            "excluded_models": ["claude-old-*"],
            "access_token": "injected",
        },
    )
    assert body == {"status": "ok", "ignored": ["access_token"]}
    data = on_disk(mgmt, "claude-dev.json")
    assert data == {
        **{k: v for k, v in CLAUDE.items() if k != "note"},
        "prefix": "team",
        "proxy_url": "socks5://127.0.0.1:1080",
        "headers": {"X-A": "1"},
        "priority": 5,
        "weight": 3,
        "excluded_models": ["claude-old-*"],
    }
    for bad in ({"weight": -1}, {"priority": "high"}, {"headers": {"X": 1}}, {"disabled": "no"}):
        resp = await mgmt.call(
            "PATCH", "/auth-files/fields", json={"name": "claude-dev.json", **bad}
        )
        assert resp.status == 400, bad
    assert on_disk(mgmt, "claude-dev.json") == data
    resp = await mgmt.call("PATCH", "/auth-files/fields", json={"prefix": "x"})
    assert resp.status == 400
    resp = await mgmt.call("PATCH", "/auth-files/fields", json={"name": "nope.json", "prefix": "x"})
    assert resp.status == 404
