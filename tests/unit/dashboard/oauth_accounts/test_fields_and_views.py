"""Validation of imported auth files and account settings; how an account is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.errors import PayloadTooLarge, ValidationFailed
from services.dashboard.oauth_accounts.fields import check_import, check_settings
from services.dashboard.oauth_accounts.views import mask_email, state_of
from services.dashboard.quota.view import countdown


def field_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return str(exc.value.details[0]["field"])


def test_import_names_the_field_at_fault() -> None:
    with pytest.raises(ValidationFailed) as bad:
        check_import("a.json", '{"type": "qwen", "refresh_token": "r"}')
    assert field_of(bad) == "type"
    with pytest.raises(ValidationFailed) as bad:
        check_import("a.json", '{"type": "codex", "refresh_token": "  "}')
    assert field_of(bad) == "refresh_token"
    with pytest.raises(ValidationFailed) as bad:
        check_import("a/b.json", '{"type": "codex", "refresh_token": "r"}')
    assert field_of(bad) == "fileName"
    with pytest.raises(PayloadTooLarge):
        check_import("a.json", '{"type": "codex", "note": "' + "x" * (1024 * 1024) + '"}')


def test_import_without_a_name_takes_type_and_email() -> None:
    name, kind, _ = check_import("", '{"type": "kimi", "access_token": "t", "email": "k@x.io"}')
    assert (name, kind) == ("kimi-k@x.io.json", "kimi")


def test_settings_become_the_proxys_fields() -> None:
    fields = check_settings(
        {
            "prefix": " team ",
            "priority": "",
            "proxyUrl": "",
            "excludedModels": "a-*\n\na-*\nb",
            "modelAliases": "m1 = x\nm2 += y",
        }
    )
    assert fields == {
        "prefix": "team",
        "priority": "",  # cleared
        "proxy_url": "",
        "excluded_models": ["a-*", "b"],
        "model_aliases": [
            {"name": "m1", "alias": "x", "fork": False},
            {"name": "m2", "alias": "y", "fork": True},
        ],
    }
    for bad in ({"priority": "1.5"}, {"proxyUrl": "file:///etc"}, {"modelAliases": "m1"}):
        with pytest.raises(ValidationFailed):
            check_settings(bad)


def test_masked_email_and_states() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("") == "***"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = (now + timedelta(minutes=5)).isoformat()
    assert state_of({"disabled": True}, now)[0] == "disabled"
    assert state_of({"next_retry_after": later, "status_message": "429"}, now) == (
        "cooling",
        "429",
        later,
    )
    assert state_of({"status": "error", "status_message": "invalid_grant"}, now) == (
        "refresh_failed",
        "invalid_grant",
        None,
    )
    assert state_of({"status": "active", "next_retry_after": "2020-01-01T00:00:00Z"}, now)[0] == (
        "active"
    )


def test_countdown() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert countdown(now + timedelta(hours=2, minutes=5), now) == "in 2 h 5 min"
    assert countdown(now + timedelta(days=3, hours=1), now) == "in 3 d 1 h"
    assert countdown(now + timedelta(seconds=20), now) == "in 1 min"
    assert countdown(now - timedelta(seconds=1), now) == "now"
    assert countdown(None, now) == "—"
