"""Cooldowns across worker processes: what one worker records reaches the other through the
files, is never written back into the other's file, and goes when the first worker clears it."""

from __future__ import annotations

from pathlib import Path

from services.proxy.routing.cooldowns import Cooldowns
from services.proxy.routing.shared_cooldowns import CooldownSharing
from services.proxy.workers import WorkerSlot


def _worker(state: Path, index: int) -> tuple[Cooldowns, CooldownSharing]:
    path = WorkerSlot(index, 2).state_file(state / "cooldowns.json")
    cooldowns = Cooldowns(path)
    return cooldowns, CooldownSharing(cooldowns, path)


async def test_a_cooldown_reaches_the_other_worker_and_leaves_with_it(tmp_path: Path):
    first, first_sharing = _worker(tmp_path, 0)
    second, second_sharing = _worker(tmp_path, 1)
    first.record_failure("cred-a", "m", 429, retry_after=120)
    first._save(first._serialize())
    await second_sharing.sync()
    assert second.until("cred-a", "m") > 0, "worker 1 avoids what worker 0 saw fail"
    second._save(second._serialize())
    assert b"cred-a" not in (tmp_path / "cooldowns-worker-1.json").read_bytes()
    first.record_success("cred-a", "m")
    first._save(first._serialize())
    await second_sharing.sync()
    assert second.until("cred-a", "m") == 0.0
    await first_sharing.sync()
    assert first.until("cred-a", "m") == 0.0, "no echo of its own cleared entry"


async def test_an_own_cooldown_is_kept_and_401s_are_not_shared(tmp_path: Path):
    first, _ = _worker(tmp_path, 0)
    second, second_sharing = _worker(tmp_path, 1)
    first.record_failure("cred-a", "m", 401)
    first.record_failure("cred-b", "m", 500)
    first._save(first._serialize())
    second.record_failure("cred-b", "m", 429, retry_after=600)
    own_until = second.until("cred-b", "m")
    await second_sharing.sync()
    assert second.until("cred-a", "m") == 0.0, "a 401 belongs to one worker's token"
    assert second.until("cred-b", "m") == own_until
