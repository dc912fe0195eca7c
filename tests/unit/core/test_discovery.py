"""PROXY_URL parsing and the replica set's diffing, with a resolver that answers from a dict."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from services.core.discovery import (
    LookupFailed,
    Replicas,
    parse_entries,
    parse_entry,
    system_resolver,
)


class Dns:
    """A resolver answering from `answers`; a name mapped to an exception raises it."""

    def __init__(self, **answers: list[str] | Exception) -> None:
        self.answers: dict[str, list[str] | Exception] = dict(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, name: str, port: int) -> list[str]:
        self.asked.append((name, port))
        answer = self.answers.get(name, [])
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_plain_and_dns_entries_parse():
    entries = parse_entries(" http://a:8317/ , dns+http://tasks.proxy:8317,dns+https://svc:443/p")
    assert [(e.position, e.scheme, e.host, e.port, e.path, e.dns) for e in entries] == [
        (1, "http", "a", 8317, "", False),
        (2, "http", "tasks.proxy", 8317, "", True),
        (3, "https", "svc", 443, "/p", True),
    ]
    assert entries[0].url == "http://a:8317"
    assert entries[2].url_for("10.0.0.7") == "https://10.0.0.7:443/p"
    assert entries[1].url_for("fd00::5") == "http://[fd00::5]:8317"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://x", "must start with http://, https://, dns+http://"),
        ("dns+ftp://x:1", "must start with http://"),
        ("dns+http://tasks.proxy", "needs a port"),
        ("dns+http://tasks.proxy:99999", "invalid port"),
        ("http://user:pw@a:1", "must be http://HOST:PORT"),
        ("dns+http://:8317", "must be dns+http://HOST:PORT"),
        ("http://a:1?x=1", "must be http://HOST:PORT"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match="PROXY_URL entry") as caught:
        parse_entry(text)
    assert message in str(caught.value)


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match="at least one proxy"):
        parse_entries(" , ")


async def test_fixed_entries_need_no_lookup_and_keep_their_labels():
    dns = Dns()
    one = Replicas.from_setting("http://a:1", dns)
    assert (one.urls, one.labels, one.discovers) == (["http://a:1"], ["proxy"], False)
    two = Replicas.from_setting("http://a:1,http://b:2", dns)
    assert not await two.refresh()
    assert two.labels == ["proxy 1", "proxy 2"] and dns.asked == []


async def test_a_name_stands_for_each_address_in_a_stable_order():
    dns = Dns(**{"tasks.proxy": ["10.0.0.9", "10.0.0.10", "fd00::1", "10.0.0.9"]})
    replicas = Replicas.from_setting("http://fixed:1, dns+http://tasks.proxy:8317", dns)
    assert replicas.urls == ["http://fixed:1"]  # nothing resolved before the first refresh
    change = await replicas.refresh()
    assert change.added == (
        "http://10.0.0.9:8317",
        "http://10.0.0.10:8317",
        "http://[fd00::1]:8317",
    )
    assert replicas.urls == ["http://fixed:1", *change.added]
    assert replicas.labels == [
        "proxy 1", "proxy 10.0.0.9:8317", "proxy 10.0.0.10:8317", "proxy [fd00::1]:8317"
    ]  # fmt: skip
    assert dns.asked == [("tasks.proxy", 8317)]


async def test_refresh_reports_what_came_and_went():
    dns = Dns(**{"tasks.proxy": ["10.0.0.1", "10.0.0.2"]})
    replicas = Replicas.from_setting("dns+http://tasks.proxy:8317", dns)
    await replicas.refresh()
    version = replicas.version
    assert not await replicas.refresh() and replicas.version == version  # same answer: no change
    dns.answers["tasks.proxy"] = ["10.0.0.2", "10.0.0.3"]
    change = await replicas.refresh()
    assert change.added == ("http://10.0.0.3:8317",)
    assert change.removed == ("http://10.0.0.1:8317",)
    assert replicas.version == version + 1


async def test_a_failed_lookup_keeps_the_last_set_and_an_empty_answer_empties_it():
    dns = Dns(**{"tasks.proxy": ["10.0.0.1"]})
    replicas = Replicas.from_setting("dns+http://tasks.proxy:8317,http://fixed:1", dns)
    await replicas.refresh()
    dns.answers["tasks.proxy"] = LookupFailed("timeout")
    assert not await replicas.refresh()
    assert replicas.urls == ["http://10.0.0.1:8317", "http://fixed:1"]
    dns.answers["tasks.proxy"] = []
    change = await replicas.refresh()
    assert change.removed == ("http://10.0.0.1:8317",) and replicas.urls == ["http://fixed:1"]


async def test_lookup_trouble_is_logged_once_per_change_not_per_refresh():
    dns = Dns(**{"tasks.proxy": LookupFailed("SERVFAIL")})
    replicas = Replicas.from_setting("dns+http://tasks.proxy:8317", dns)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await replicas.refresh()
        dns.answers["tasks.proxy"] = []
        for _ in range(3):
            await replicas.refresh()
        dns.answers["tasks.proxy"] = ["10.0.0.1"]
        for _ in range(3):
            await replicas.refresh()
    events = [(e["event"], e.get("problem")) for e in logs if e["event"].startswith("proxy_")]
    assert events == [
        ("proxy_discovery_problem", "lookup failed: SERVFAIL"),
        ("proxy_discovery_problem", "resolves to no address"),
        ("proxy_discovery_resolved", None),
        ("proxy_replicas_changed", None),
    ]


async def test_the_same_replica_named_twice_is_one_replica():
    dns = Dns(a=["127.0.0.1"], b=["127.0.0.1", "127.0.0.2"])
    replicas = Replicas.from_setting("http://127.0.0.1:1, dns+http://a:1, dns+http://b:1", dns)
    await replicas.refresh()
    assert replicas.urls == ["http://127.0.0.1:1", "http://127.0.0.2:1"]
    assert replicas.labels == ["proxy 1", "proxy 127.0.0.2:1"]


async def test_wait_for_wakes_when_the_set_changes():
    dns = Dns(**{"tasks.proxy": []})
    replicas = Replicas.from_setting("dns+http://tasks.proxy:8317", dns)
    waiting = asyncio.create_task(replicas.wait_for(lambda urls: len(urls) == 2))
    await replicas.refresh()
    assert not waiting.done()
    dns.answers["tasks.proxy"] = ["10.0.0.1", "10.0.0.2"]
    await replicas.refresh()
    assert len(await asyncio.wait_for(waiting, 5)) == 2


async def test_watch_hands_each_change_over_and_stops_for_fixed_sets():
    seen = []

    async def note(change):
        seen.append(change)
        if len(seen) == 2:
            raise asyncio.CancelledError

    dns = Dns(**{"tasks.proxy": ["10.0.0.1"]})
    replicas = Replicas.from_setting("dns+http://tasks.proxy:8317", dns)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(replicas.watch(0.001, note), 5)
    assert seen[0].added == ("http://10.0.0.1:8317",) and not seen[1]
    await asyncio.wait_for(Replicas.from_setting("http://a:1").watch(0.001, note), 5)


async def test_a_failing_handler_does_not_end_the_watch():
    calls = []

    async def flaky(change):
        calls.append(change)
        if len(calls) == 1:
            raise RuntimeError("database down")
        raise asyncio.CancelledError

    replicas = Replicas.from_setting("dns+http://tasks.proxy:8317", Dns())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(replicas.watch(0.001, flaky), 5)
    assert len(calls) == 2


async def test_the_system_resolver_reads_the_hosts_database():
    """localhost is in /etc/hosts on every machine we run on; a name under .invalid never is."""
    assert "127.0.0.1" in await system_resolver("localhost", 80)
    try:
        answer = await system_resolver("no-such-replica.invalid", 80)
    except LookupFailed:  # a resolver that cannot reach DNS at all says so instead
        return
    assert answer == []
