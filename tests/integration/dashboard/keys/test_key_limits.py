"""Per-key limits in the dashboard: an admin sets them (per key, per role by default), the
owner sees them, every proxy gets them in `api-key-limits` under the key's `sha256:` entry."""

from __future__ import annotations

import hashlib

from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import Browser

LIMITS = {"requests-per-minute": 30, "allowed-models": ["gpt-5*", " "], "daily-budget-usd": 20}


def entry(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _new_key(browser: Browser, name: str = "laptop") -> dict:
    created = browser.post("/api/user/api-keys", json={"name": name})
    assert created.status_code == 201, created.text
    return created.json()["data"]


def test_admin_sets_a_keys_limits_owner_sees_them_proxy_gets_them(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    key = _new_key(alice)
    assert fake_proxy.snapshot("api-key-limits") == {}
    set_ = admin.put(f"/api/admin/api-keys/{key['id']}/limits", json={"limits": LIMITS})
    assert set_.status_code == 200, set_.text
    expected = {"requests-per-minute": 30, "allowed-models": ["gpt-5*"], "daily-budget-usd": 20.0}
    assert fake_proxy.snapshot("api-key-limits") == {entry(key["key"]): expected}
    listed = alice.get("/api/user/api-keys").json()["data"]
    assert listed[0]["limits"] == expected
    page = alice.get("/dashboard/api-keys").text
    assert "30 requests/min" in page and "$20.00/day" in page and "gpt-5*" in page


def test_only_an_admin_sets_limits(alice: Browser, fake_proxy: FakeManagementAPI) -> None:
    key = _new_key(alice)
    refused = alice.put(f"/api/admin/api-keys/{key['id']}/limits", json={"limits": LIMITS})
    assert refused.status_code == 403
    assert alice.put("/api/admin/key-limit-defaults", json={"user": LIMITS}).status_code == 403
    assert fake_proxy.snapshot("api-key-limits") == {}


def test_invalid_limits_are_refused_and_nothing_is_pushed(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    key = _new_key(alice)
    for bad in (
        {"requests-per-minute": -1},
        {"daily-budget-usd": "lots"},
        {"allowed-models": "gpt-*"},
        {"request-per-minute": 10},
    ):
        answer = admin.put(f"/api/admin/api-keys/{key['id']}/limits", json={"limits": bad})
        assert answer.status_code == 400, bad
    assert admin.put("/api/admin/api-keys/99999/limits", json={"limits": {}}).status_code == 404
    assert fake_proxy.snapshot("api-key-limits") == {}


def test_role_defaults_apply_to_keys_without_their_own(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    first, second = _new_key(alice, "a"), _new_key(alice, "b")
    defaults = {"user": {"requests-per-minute": 5}, "admin": {}}
    assert admin.put("/api/admin/key-limit-defaults", json=defaults).status_code == 200
    assert admin.get("/api/admin/key-limit-defaults").json()["data"]["defaults"] == {
        "user": {"requests-per-minute": 5}
    }
    admin.put(f"/api/admin/api-keys/{second['id']}/limits", json={"concurrent-requests": 2})
    pushed = fake_proxy.snapshot("api-key-limits")
    assert pushed == {
        entry(first["key"]): {"requests-per-minute": 5},
        entry(second["key"]): {"concurrent-requests": 2},
    }
    # Back to the role default, then the key is revoked: its entry goes.
    admin.put(f"/api/admin/api-keys/{second['id']}/limits", json={"limits": {}})
    assert fake_proxy.snapshot("api-key-limits")[entry(second["key"])] == {"requests-per-minute": 5}
    assert alice.delete(f"/api/user/api-keys/{second['id']}").status_code == 200
    assert set(fake_proxy.snapshot("api-key-limits")) == {entry(first["key"])}


def test_operator_entries_are_kept(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    fake_proxy.config["api-key-limits"] = {"*": {"requests-per-minute": 100}}
    key = _new_key(alice)
    admin.put(f"/api/admin/api-keys/{key['id']}/limits", json={"limits": {"tokens-per-minute": 9}})
    assert fake_proxy.snapshot("api-key-limits") == {
        "*": {"requests-per-minute": 100},
        entry(key["key"]): {"tokens-per-minute": 9},
    }


def test_admin_page_sets_key_limits_and_role_defaults(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    key = _new_key(alice)
    page = admin.get("/dashboard/key-limits")
    assert page.status_code == 200 and "alice" in page.text and "no limits" in page.text
    form = {
        "requests-per-minute": "12",
        "allowed-models": "gpt-5*, claude-*",
        "tokens-per-minute": "",
    }
    saved = admin.post(f"/dashboard/key-limits/{key['id']}", data=form)
    assert saved.status_code == 303
    assert fake_proxy.snapshot("api-key-limits") == {
        entry(key["key"]): {"requests-per-minute": 12, "allowed-models": ["gpt-5*", "claude-*"]}
    }
    admin.post("/dashboard/key-limits/defaults", data={"role": "user", "daily-budget-usd": "3"})
    admin.post(f"/dashboard/key-limits/{key['id']}", data={"use-default": "1"})
    assert fake_proxy.snapshot("api-key-limits") == {entry(key["key"]): {"daily-budget-usd": 3.0}}
    bad = admin.post(f"/dashboard/key-limits/{key['id']}", data={"requests-per-minute": "-4"})
    assert bad.status_code == 303  # back to the page with the error shown
    assert "requests-per-minute" in admin.get("/dashboard/key-limits").text
    assert alice.get("/dashboard/key-limits").status_code in (403, 303)
