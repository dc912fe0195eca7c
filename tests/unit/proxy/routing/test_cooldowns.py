"""Cooldown rules by status class, clearing on success, and persistence."""

from __future__ import annotations

import pytest

from services.proxy.routing.cooldowns import Cooldowns, cooldown_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("status", "hint", "level", "expected"),
    [
        (401, None, 0, 1800.0),
        (403, None, 0, 1800.0),
        (404, None, 0, 43200.0),
        (429, 12.0, 0, 12.0),
        (429, 5 * 86400.0, 0, 1800.0),  # a hint of days is capped and re-probed
        (429, None, 0, 1.0),
        (429, None, 4, 16.0),
        (429, None, 40, 1800.0),
        (500, None, 0, 60.0),
        (503, None, 0, 60.0),
        (408, None, 0, 60.0),
        (0, None, 0, 60.0),
        (400, None, 0, 0.0),
        (422, None, 0, 0.0),
    ],
)
def test_cooldown_seconds_by_status(status, hint, level, expected):
    """Each status class cools for its documented time."""
    assert cooldown_seconds(status, hint, level) == expected


def test_rate_limit_backoff_grows_and_success_clears():
    """Repeated 429s without hints back off exponentially; a success clears the pair."""
    clock = Clock()
    cd = Cooldowns(None, clock=clock)
    assert cd.record_failure("c1", "m", 429) == 1.0
    assert cd.record_failure("c1", "m", 429) == 2.0
    assert cd.record_failure("c1", "m", 429) == 4.0
    assert cd.until("c1", "m") == clock.now + 4.0
    assert cd.until("c1", "other") == 0.0
    cd.record_success("c1", "m")
    assert cd.until("c1", "m") == 0.0


def test_cooldown_expires_with_time():
    """A pair is usable again once its time has passed."""
    clock = Clock()
    cd = Cooldowns(None, clock=clock)
    cd.record_failure("c1", "m", 500)
    clock.now += 61
    assert cd.until("c1", "m") == 0.0


def test_reset_clears_one_credential_or_all():
    """reset(id) clears that credential's models only; reset() clears everything."""
    cd = Cooldowns(None, clock=Clock())
    cd.record_failure("a", "m1", 500)
    cd.record_failure("a", "m2", 500)
    cd.record_failure("b", "m1", 500)
    assert cd.reset("a") == 2
    assert len(cd.active()) == 1
    assert cd.reset() == 1


async def test_state_survives_a_restart(tmp_path):
    """Closing writes the table; a new instance restores unexpired entries only."""
    path = tmp_path / "state" / "cooldowns.json"
    clock = Clock()
    cd = Cooldowns(path, clock=clock)
    cd.start()
    cd.record_failure("a", "m", 429, retry_after=600)
    cd.record_failure("b", "m", 500)
    await cd.close()
    clock.now += 120  # the 60 s one has expired by now
    restored = Cooldowns(path, clock=clock)
    assert restored.until("a", "m") == pytest.approx(1_000_600.0)
    assert restored.until("b", "m") == 0.0


def test_corrupt_state_file_is_ignored(tmp_path):
    """An unreadable state file starts an empty table instead of crashing."""
    path = tmp_path / "cooldowns.json"
    path.write_text("{not json")
    assert Cooldowns(path).active() == []


def test_concurrent_state_writes_do_not_collide(tmp_path):
    """Writes from several threads at once (a closing store and its persist thread) all land."""
    import threading

    cd = Cooldowns(tmp_path / "state" / "cooldowns.json")
    cd.record_failure("a", "m", 500)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(50):
                cd._write(cd._serialize())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Cooldowns(tmp_path / "state" / "cooldowns.json").until("a", "m") > 0
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["cooldowns.json"]
