"""`api-key-limits` and `limits-store` in config.yaml: validated at load, looked up by digest."""

from __future__ import annotations

import hashlib

import pytest

from services.proxy.config.loader import ConfigError, validate_text
from services.proxy.limits import periods
from services.proxy.limits.policy import PolicyTable
from services.proxy.routing.runtime import build_runtime

KEY = "sk-plain-client-key"
KEY_ID = hashlib.sha256(KEY.encode()).hexdigest()[:16]


def test_limits_are_looked_up_by_plain_key_or_digest_with_a_default():
    digest = "sha256:" + hashlib.sha256(b"other-key").hexdigest()
    text = (
        f"api-keys: [{KEY}, {digest}, third-key]\n"
        "api-key-limits:\n"
        f"  {KEY}: {{requests-per-minute: 5}}\n"
        f"  '{digest}': {{}}\n"
        "  '*': {concurrent-requests: 2}\n"
    )
    runtime = build_runtime(validate_text(text))
    table = PolicyTable(runtime.config, runtime.index)
    own = table.get(KEY_ID)
    assert own is not None and own.limits.requests_per_minute == 5
    assert table.get(hashlib.sha256(b"other-key").hexdigest()[:16]) is None  # explicit: none
    third = table.get(hashlib.sha256(b"third-key").hexdigest()[:16])
    assert third is not None and third.limits.concurrent_requests == 2


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("{request-per-minute: 5}", "request-per-minute"),  # misspelt: never silently unlimited
        ("{requests-per-minute: -1}", "requests-per-minute"),
        ("{daily-budget-usd: lots}", "daily-budget-usd"),
        ("{allowed-models: [1]}", "allowed-models"),
    ],
)
def test_bad_limits_are_refused_at_load(entry, needle):
    with pytest.raises(ConfigError) as exc:
        validate_text(f"api-keys: [{KEY}]\napi-key-limits:\n  {KEY}: {entry}\n")
    assert needle in str(exc.value)


def test_the_store_must_be_a_redis_url():
    assert validate_text("limits-store: redis://cache:6379/0\n").config.limits_store
    with pytest.raises(ConfigError):
        validate_text("limits-store: http://cache:6379\n")


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0ms"), (20, "20ms"), (1500, "1.5s"), (60_000, "1m0s"), (61_250, "1m1.25s")],
)
def test_reset_durations_are_written_like_openai(ms, text):
    assert periods.duration(ms) == text


def test_period_ids_change_at_utc_midnight():
    ids = periods.PeriodIds()
    before = 1_767_225_599.5  # 2025-12-31T23:59:59.5Z
    assert ids.at(before) == ("2025-12-31", "2025-12")
    assert ids.at(before + 1) == ("2026-01-01", "2026-01")
