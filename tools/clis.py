"""Pinned coding-agent CLIs (Claude Code, Codex, Gemini CLI) for the end-to-end tests.

`python -m tools.clis install` runs `npm ci` on the committed lock in tools/clis/ into a cache
folder (default .cache/clis/, or $GATEWAY_CLIS_DIR); `python -m tools.clis path NAME` prints a
binary. Nothing here downloads at test time: tests ask `binary()` and skip when it is None.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from services.proxy.config.files import write_atomic

REPO = Path(__file__).resolve().parents[1]
SPEC = Path(__file__).resolve().parent / "clis"
SPEC_FILES = ("package.json", "package-lock.json")
STAMP = ".installed"
# CLI name -> (npm package, binary name under node_modules/.bin)
CLIS = {
    "claude": ("@anthropic-ai/claude-code", "claude"),
    "codex": ("@openai/codex", "codex"),
    "gemini": ("@google/gemini-cli", "gemini"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("GATEWAY_CLIS_DIR") or REPO / ".cache" / "clis")


def lock_digest() -> str:
    """What the stamp records: an install is current only for this exact lock."""
    digest = hashlib.sha256()
    for name in SPEC_FILES:
        digest.update((SPEC / name).read_bytes())
    return digest.hexdigest()


def is_current(root: Path) -> bool:
    stamp = root / STAMP
    return stamp.exists() and stamp.read_text().strip() == lock_digest()


def binary(name: str, root: Path | None = None) -> Path | None:
    """The installed binary of CLI `name`, or None when the pinned install is absent or stale."""
    root = root or cache_dir()
    path = root / "node_modules" / ".bin" / CLIS[name][1]
    return path if is_current(root) and path.exists() else None


def missing_reason(name: str) -> str:
    return f"{name} CLI not installed: run `make clis` (python -m tools.clis install)"


def tree_size(root: Path) -> int:
    """Bytes on disk, counting hard-linked files once (Claude Code links its binary)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for file in files:
            stat = os.lstat(os.path.join(dirpath, file))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


def install(root: Path, force: bool = False) -> int:
    if is_current(root) and not force:
        print(f"clis: up to date in {root}")
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("clis: npm not found on PATH", file=sys.stderr)
        return 1
    root.mkdir(parents=True, exist_ok=True)
    (root / STAMP).unlink(missing_ok=True)
    for name in SPEC_FILES:
        shutil.copyfile(SPEC / name, root / name)
    started = time.monotonic()
    argv = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    code = subprocess.run(argv, cwd=root, check=False).returncode
    if code != 0:
        print(f"clis: npm ci failed with exit code {code}", file=sys.stderr)
        return code
    absent = [n for n, (_, b) in CLIS.items() if not (root / "node_modules/.bin" / b).exists()]
    if absent:
        print(f"clis: npm ci left no binary for {', '.join(absent)}", file=sys.stderr)
        return 1
    write_atomic(root / STAMP, lock_digest() + "\n", durable=False)
    elapsed = time.monotonic() - started
    size_mb = tree_size(root / "node_modules") / 1e6
    print(f"clis: installed {', '.join(CLIS)} in {elapsed:.0f} s, {size_mb:.0f} MB, at {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.clis", description=__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="cache folder (default .cache/clis)")
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="npm ci the pinned CLIs into the cache folder")
    inst.add_argument("--force", action="store_true", help="reinstall even when up to date")
    path = sub.add_parser("path", help="print the binary path of one CLI")
    path.add_argument("name", choices=sorted(CLIS))
    args = parser.parse_args(argv)
    root = args.dir or cache_dir()
    if args.command == "install":
        return install(root, force=args.force)
    found = binary(args.name, root)
    if found is None:
        print(missing_reason(args.name), file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
