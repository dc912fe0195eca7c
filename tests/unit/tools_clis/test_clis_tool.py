"""tools.clis: a CLI counts as installed only for the committed lock, and `path` says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import clis


def _fake_install(root: Path, stamp: str) -> Path:
    bin_dir = root / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    for _, name in clis.CLIS.values():
        (bin_dir / name).write_text("#!/bin/sh\n")
    (root / clis.STAMP).write_text(stamp + "\n")
    return bin_dir


def test_binary_found_only_for_the_current_lock(tmp_path):
    bin_dir = _fake_install(tmp_path, clis.lock_digest())
    assert clis.binary("codex", tmp_path) == bin_dir / "codex"
    (tmp_path / clis.STAMP).write_text("an-older-lock\n")
    assert clis.binary("codex", tmp_path) is None


def test_binary_absent_without_install(tmp_path):
    assert clis.binary("claude", tmp_path) is None


def test_path_command_prints_binary_or_explains(tmp_path, capsys):
    assert clis.main(["--dir", str(tmp_path), "path", "gemini"]) == 1
    assert "make clis" in capsys.readouterr().err
    bin_dir = _fake_install(tmp_path, clis.lock_digest())
    assert clis.main(["--dir", str(tmp_path), "path", "gemini"]) == 0
    assert capsys.readouterr().out.strip() == str(bin_dir / "gemini")


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_CLIS_DIR", str(tmp_path))
    assert clis.cache_dir() == tmp_path
    monkeypatch.delenv("GATEWAY_CLIS_DIR")
    assert clis.cache_dir() == clis.REPO / ".cache" / "clis"


def test_lock_pins_exact_versions():
    spec = json.loads((clis.SPEC / "package.json").read_text())
    lock = json.loads((clis.SPEC / "package-lock.json").read_text())
    for package, _ in clis.CLIS.values():
        version = spec["dependencies"][package]
        assert version[0].isdigit(), f"{package} must be pinned exactly, not {version}"
        assert lock["packages"][f"node_modules/{package}"]["version"] == version


@pytest.mark.parametrize("name", sorted(clis.CLIS))
def test_missing_reason_names_the_make_target(name):
    assert name in clis.missing_reason(name) and "make clis" in clis.missing_reason(name)
