"""Our file writes on a disk that is really full: the old file stays whole, nothing is left."""

from __future__ import annotations

import errno
import os

import pytest
from structlog.testing import capture_logs

from services.proxy.config.files import write_atomic
from services.proxy.routing.cooldowns import Cooldowns


def _fill(folder) -> None:
    """Take every free byte of the file system `folder` is on."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_a_write_that_finds_no_space_leaves_the_old_file(small_tmpfs):
    folder = small_tmpfs("64k")
    path = folder / "config.yaml"
    write_atomic(path, "api-keys: [sk-old]\n")
    _fill(folder)
    with pytest.raises(OSError) as info:
        write_atomic(path, "api-keys: [sk-new]\n" * 2000)
    assert info.value.errno == errno.ENOSPC
    assert path.read_text() == "api-keys: [sk-old]\n"
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "filler"]


async def test_cooldown_state_survives_a_full_disk(small_tmpfs):
    """The saved cooldowns stay the last complete state; shutting down does not raise."""
    folder = small_tmpfs("64k")
    path = folder / "cooldowns.json"
    first = Cooldowns(path)
    first.start()
    first.record_failure("cred", "model", 429, 600)
    await first.close()
    saved = path.read_bytes()

    _fill(folder)
    second = Cooldowns(path)
    second.start()
    for i in range(50):
        second.record_failure(f"cred-{i}", "model", 429, 600)
    with capture_logs() as logs:
        await second.close()
    assert any(entry["event"] == "cooldown_state_write_failed" for entry in logs)
    assert path.read_bytes() == saved
    assert sorted(p.name for p in folder.iterdir()) == ["cooldowns.json", "filler"]
    assert [entry["auth_index"] for entry in Cooldowns(path).active()] == ["cred"]
