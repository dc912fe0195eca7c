"""write_atomic, the one way our code writes a file, and a check that nothing bypasses it."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from services.proxy.config.files import write_atomic

REPO = Path(__file__).resolve().parents[4]
# Writes that replace a file's content in place: a reader or a crash can see it half written.
_IN_PLACE = re.compile(
    r"\.write_text\(|\.write_bytes\(|open\([^)]*[\"'][wx]b?\+?[\"']|fdopen\([^)]*[\"']w|mkstemp\("
)


def test_content_and_modes(tmp_path):
    """A new file is private (600); a replaced one keeps its permission bits unless told."""
    path = tmp_path / "state.json"
    write_atomic(path, b"{}")
    assert (path.read_bytes(), stat.S_IMODE(path.stat().st_mode)) == (b"{}", 0o600)
    path.chmod(0o640)
    write_atomic(path, '{"a": 1}')
    assert (path.read_text(), stat.S_IMODE(path.stat().st_mode)) == ('{"a": 1}', 0o640)
    write_atomic(path, "x", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_owner_of_a_replaced_file_is_kept(tmp_path):
    """Root rewriting a service user's file (postgresql.conf, config.yaml) leaves it theirs."""
    path = tmp_path / "postgresql.conf"
    path.write_text("port = 1\n")
    os.chown(path, 65534, 65534)
    write_atomic(path, "port = 2\n")
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)


def test_no_code_writes_a_file_in_place():
    """services/ and tools/ write files only through write_atomic (appended logs aside)."""
    offenders = []
    for folder in ("services", "tools"):
        for source in sorted((REPO / folder).rglob("*.py")):
            if source == REPO / "services/proxy/config/files.py":
                continue
            for number, line in enumerate(source.read_text().splitlines(), start=1):
                if _IN_PLACE.search(line):
                    offenders.append(f"{source.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []
