"""manage.sh against a stub `docker` on PATH, and a real Postgres for backup and restore."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from services.core.crypto import seal, unseal
from services.core.settings import require_secret
from tools import localpg

from .stack import INFRA, SECRETS, compose, dummy_env

STUB = Path(__file__).with_name("stub_docker.py")


class Manage:
    """Runs a copy of infrastructure/ (so .env and backups stay in tmp) with the stub docker."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "infrastructure"
        self.dir.mkdir()
        for name in ("manage.sh", "docker-compose.yml", "stack.yml", ".env.example"):
            shutil.copy2(INFRA / name, self.dir / name)
        self.bin = root / "bin"
        self.bin.mkdir()
        docker = self.bin / "docker"
        docker.write_text(f'#!/bin/sh\nexec {sys.executable} {STUB} "$@"\n')
        docker.chmod(0o755)
        self.log = root / "docker.log"
        self.proxy_root = root / "proxy-volumes"
        self.env = dict(os.environ) | {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "STUB_LOG": str(self.log),
            "STUB_PROXY_ROOT": str(self.proxy_root),
        }

    @property
    def env_file(self) -> Path:
        return self.dir / ".env"

    def __call__(self, *args: str, input: str | None = None, path: str | None = None):
        env = self.env if path is None else self.env | {"PATH": path}
        return subprocess.run(
            ["bash", str(self.dir / "manage.sh"), *args],
            capture_output=True,
            text=True,
            env=env,
            input=input,
            cwd=self.dir.parent,
        )

    def calls(self) -> list[list[str]]:
        """The compose subcommands issued, without the global flags; `version` checks dropped."""
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text().splitlines():
            args = json.loads(line)
            assert args[0] == "compose"
            if args[1:] == ["version"]:
                continue
            assert args[1:3] == ["--project-directory", str(self.dir)]
            assert args[3:5] == ["-f", str(self.dir / "docker-compose.yml")]
            assert args[5:7] == ["--env-file", str(self.env_file)]
            found.append(args[7:])
        return found


@pytest.fixture
def manage(tmp_path) -> Manage:
    return Manage(tmp_path)


@pytest.fixture
def ready(manage) -> Manage:
    assert manage("init").returncode == 0
    return manage


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up"], ["up", "-d", "--wait"]),
        (["up", "dashboard"], ["up", "-d", "--wait", "dashboard"]),
        (["down"], ["down", "--remove-orphans"]),
        (["restart", "proxy"], ["restart", "proxy"]),
        (["ps"], ["ps", "--all"]),
        (["status"], ["ps", "--all"]),
        (["logs", "-f", "dashboard"], ["logs", "-f", "dashboard"]),
        (
            ["logs", "--tail", "5", "--since=10m", "proxy"],
            ["logs", "--tail", "5", "--since=10m", "proxy"],
        ),
        (["pull"], ["pull", "--ignore-buildable", "--quiet"]),
        (["compose", "config", "-q"], ["config", "-q"]),
    ],
)
def test_subcommands_issue_the_right_compose_command(ready, argv, expected):
    result = ready(*argv)
    assert result.returncode == 0, result.stderr
    assert ready.calls() == [expected]


COMMANDS = (
    "init", "up", "down", "restart", "ps", "status", "logs", "pull", "backup", "restore",
    "rotate-backups", "rotate-secrets", "compose", "stack-deploy", "stack-ps", "stack-rm",
)  # fmt: skip


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_and_does_nothing_else(ready, command, flag):
    """`backup --help` used to take a backup named `--help_<time>.tar.gz`."""
    before = _files(ready.dir)
    result = ready(command, flag)
    assert result.returncode == 0, result.stderr
    shown = "ps" if command == "status" else command
    assert result.stdout.startswith(f"Usage: ./manage.sh {shown}"), result.stdout
    assert result.stderr == ""
    assert not ready.log.exists()  # docker was never called
    assert _files(ready.dir) == before


@pytest.mark.parametrize(
    "argv",
    [["backup", "nightly", "--help"], ["restore", "x.tar.gz", "-h"], ["logs", "-f", "--help"],
     ["rotate-backups", "3", "--help"], ["init", "--force", "--help"]],
)  # fmt: skip
def test_help_after_other_arguments_also_does_nothing(ready, argv):
    before = _files(ready.dir)
    result = ready(*argv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: ./manage.sh {argv[0]}")
    assert not ready.log.exists()
    assert _files(ready.dir) == before


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "compose"])
def test_unknown_options_are_refused(ready, command):
    before = _files(ready.dir)
    result = ready(command, "--bogus")
    assert result.returncode == 2
    assert "unknown option '--bogus'" in result.stderr
    assert f"./manage.sh {command} --help" in result.stderr
    assert not ready.log.exists()
    assert _files(ready.dir) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup", "../elsewhere"], "letters, digits"),
        (["backup", "a", "b"], "one name at most"),
        (["backup", "--recipient"], "--recipient needs"),
        (["restore", "a.tar.gz", "b.tar.gz", "--yes"], "one backup file"),
        (["restore"], "which backup?"),
        (["rotate-backups", "-3"], "unknown option '-3'"),
        (["rotate-backups", "many"], "wants a number"),
        (["init", "now"], "unexpected argument 'now'"),
        (["down", "proxy"], "takes no arguments"),
        (["stack-deploy", "mystack"], "takes no arguments"),
        (["logs", "--tail"], "--tail needs a value"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(ready, argv, message):
    before = _files(ready.dir)
    result = ready(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert not ready.log.exists()
    assert _files(ready.dir) == before


def _docker_calls(manage: Manage) -> list:
    return [json.loads(line) for line in manage.log.read_text().splitlines()]


def test_stack_deploy_exports_env_labels_a_node_and_waits(ready):
    """`stack-deploy` gives `docker stack deploy` the settings of .env (the shell's own
    values win), builds DATABASE_URL from POSTGRES_*, labels this node for Postgres and
    returns once every service runs all its replicas and migrate completed."""
    ready.env["STUB_SERVICES"] = "gw_proxy 2/2 (max 1 per node),gw_migrate 0/1,gw_postgres 1/1"
    ready.env |= {"STACK_NAME": "gw", "GATEWAY_IMAGE": "registry.example/gw:1"}
    result = ready("stack-deploy")
    assert result.returncode == 0, result.stderr
    assert "stack gw is running" in result.stdout
    calls = _docker_calls(ready)
    assert ["node", "update", "--label-add", "gateway.postgres=true", "n1"] in calls
    deploy = ["stack", "deploy", "--prune", "-c", str(ready.dir / "stack.yml"), "gw"]
    assert deploy in calls
    (env,) = [c["env"] for c in calls if isinstance(c, dict)]
    password = ready.env_file.read_text().split("POSTGRES_PASSWORD=")[1].split()[0]
    assert env["POSTGRES_PASSWORD"] == password
    assert env["DATABASE_URL"] == f"postgresql://gateway:{password}@postgres:5432/gateway"
    assert env["GATEWAY_IMAGE"] == "registry.example/gw:1"  # the shell's value won


def test_stack_deploy_gives_up_when_replicas_do_not_come(ready):
    ready.env |= {"STUB_SERVICES": "gw_proxy 1/2", "STACK_NAME": "gw", "STACK_WAIT": "0"}
    result = ready("stack-deploy")
    assert result.returncode == 1
    assert "not ready after 0 s" in result.stderr


def test_pull_says_in_one_line_that_the_registry_cannot_be_reached(ready):
    error = (
        'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: '
        "lookup registry-1.docker.io on 10.0.0.53:53: no such host"
    )
    ready.env["STUB_PULL_ERROR"] = f" Image postgres:16-alpine Pulling\n{error}\n{error}"
    result = ready("pull")
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines == [
        "manage.sh: pull failed: the registry https://registry-1.docker.io cannot be reached "
        "(no such host); the images in use are unchanged"
    ]


def test_init_writes_strong_secrets_with_mode_600(manage):
    result = manage("init")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(manage.env_file.stat().st_mode) == 0o600
    values = dict(
        line.split("=", 1)
        for line in manage.env_file.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    secrets = [values[name] for name in SECRETS]
    assert len(set(secrets)) == len(SECRETS)
    for name in SECRETS:
        assert re.fullmatch(r"[0-9a-f]{64}", values[name]), name
        require_secret(name, SecretStr(values[name]), min_length=32)
    example = (INFRA / ".env.example").read_text().splitlines()
    written = manage.env_file.read_text().splitlines()
    assert [ln for ln in example if ln.split("=")[0] not in SECRETS] == [
        ln for ln in written if ln.split("=")[0] not in SECRETS
    ]
    # The generated file is a valid .env for the real compose binary.
    assert compose(manage.env_file, "config", "-q").returncode == 0


def test_init_refuses_to_overwrite_without_force(manage):
    assert manage("init").returncode == 0
    first = manage.env_file.read_text()
    again = manage("init")
    assert again.returncode == 1
    assert "--force" in again.stderr
    assert manage.env_file.read_text() == first
    assert manage("init", "--force").returncode == 0
    assert manage.env_file.read_text() != first


def test_clear_error_without_docker(manage, tmp_path):
    """With no docker on PATH the message says what to install; nothing else runs."""
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for entry in os.scandir(folder):
            target = bare / entry.name
            if not entry.name.startswith("docker") and not target.exists():
                target.symlink_to(entry.path)
    assert manage("init").returncode == 0
    result = manage("up", path=str(bare))
    assert result.returncode == 1
    assert "docker not found" in result.stderr
    assert "Compose plugin" in result.stderr


def test_clear_error_without_env(manage):
    result = manage("up")
    assert result.returncode == 1
    assert ".env not found" in result.stderr
    assert "./manage.sh init" in result.stderr
    assert manage.calls() == []


def test_placeholder_secrets_are_refused(manage):
    shutil.copy(manage.dir / ".env.example", manage.env_file)
    result = manage("up")
    assert result.returncode == 1
    assert "placeholder" in result.stderr
    assert "JWT_SECRET" in result.stderr
    assert manage.calls() == []


def test_unknown_command_shows_usage(manage):
    result = manage("frobnicate")
    assert result.returncode == 1
    assert "unknown command: frobnicate" in result.stderr
    assert "rotate-backups" in result.stderr


def test_rotate_backups_keeps_the_newest(manage):
    backups = manage.dir / "backups"
    backups.mkdir()
    names = [f"llm-gateway_2026010{d}_120000.tar.gz" for d in range(1, 6)]
    for name in names:
        (backups / name).write_text("x")
    (backups / "notes.txt").write_text("kept: not a backup")
    result = manage("rotate-backups", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in backups.iterdir()) == sorted([*names[-2:], "notes.txt"])


@pytest.fixture
def proxy_files(manage) -> Path:
    root = manage.proxy_root
    (root / "config").mkdir(parents=True)
    (root / "auths").mkdir()
    (root / "data").mkdir()
    (root / "config" / "config.yaml").write_text("port: 8317\napi-keys: ['sha256:aa']\n")
    (root / "auths" / "claude-a.json").write_text('{"type": "claude", "token": "t1"}')
    return root


@pytest.fixture
def database(manage, empty_database_url) -> str:
    info = conninfo_to_dict(empty_database_url)
    manage.env |= {
        "STUB_PGUSER": str(info["user"]),
        "STUB_PGDATABASE": str(info["dbname"]),
        "STUB_PGHOST": str(info["host"]),
        "STUB_PGPORT": str(info["port"]),
        # The postgres image carries pg_dump and psql; here the cluster's own binaries do.
        "PATH": f"{manage.bin}:{localpg.find_bindir()}:{os.environ['PATH']}",
    }
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO users VALUES (1, 'ada'), (2, 'grace')")
    return empty_database_url


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, name FROM users ORDER BY id").fetchall()


def test_backup_then_restore_round_trips_database_and_proxy_files(ready, database, proxy_files):
    """A real pg_dump and psql restore, the proxy's config and auth files, and .env."""
    result = ready("backup")
    assert result.returncode == 0, result.stderr
    (archive,) = (ready.dir / "backups").glob("llm-gateway_*.tar.gz")
    assert re.fullmatch(r"llm-gateway_\d{8}_\d{6}\.tar\.gz", archive.name)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        members = {m.name.removeprefix("./") for m in tar.getmembers()}
    assert {"database.sql", "proxy.tar", "env"} <= members

    # Everything changes after the backup ...
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id = 1")
        conn.execute("INSERT INTO users VALUES (3, 'mallory')")
        conn.execute("CREATE TABLE stray (x int)")
    (proxy_files / "config" / "config.yaml").write_text("port: 1\n")
    (proxy_files / "auths" / "claude-a.json").unlink()
    (proxy_files / "auths" / "stray.json").write_text("{}")
    (proxy_files / "data" / "outbox").write_text("kept")

    # ... and the restore brings back exactly the backed-up state.
    log_lines = len(ready.calls())
    result = ready("restore", str(archive), "--yes")
    assert result.returncode == 0, result.stderr
    assert _rows(database) == [(1, "ada"), (2, "grace")]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT to_regclass('stray')").fetchone() == (None,)
    assert (proxy_files / "config" / "config.yaml").read_text().startswith("port: 8317")
    assert sorted(p.name for p in (proxy_files / "auths").iterdir()) == ["claude-a.json"]
    assert (proxy_files / "data" / "outbox").read_text() == "kept"
    calls = ready.calls()[log_lines:]
    assert calls[0] == ["stop", "proxy", "collector", "dashboard"]
    assert calls[1] == ["up", "-d", "--wait", "postgres"]
    assert calls[-1] == ["up", "-d", "--wait"]


def test_restore_brings_back_a_missing_env(ready, database, proxy_files):
    assert ready("backup", "nightly").returncode == 0
    (archive,) = (ready.dir / "backups").glob("nightly_*.tar.gz")
    saved = ready.env_file.read_text()
    ready.env_file.unlink()
    result = ready("restore", str(archive), "--yes")
    assert result.returncode == 0, result.stderr
    assert ready.env_file.read_text() == saved
    assert stat.S_IMODE(ready.env_file.stat().st_mode) == 0o600


def test_restore_asks_for_confirmation(ready, database, proxy_files):
    """Without --yes and without a terminal to ask on, nothing is touched."""
    assert ready("backup").returncode == 0
    (archive,) = (ready.dir / "backups").glob("*.tar.gz")
    before = len(ready.calls())
    result = ready("restore", str(archive), input="yes\n")
    assert result.returncode == 1
    assert "--yes" in result.stderr
    assert len(ready.calls()) == before


def test_restore_rejects_a_file_that_is_not_a_backup(ready, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(dummy_env(tmp_path / "x.env"), arcname="env")
    result = ready("restore", str(bogus), "--yes")
    assert result.returncode == 1
    assert "not a backup made by manage.sh" in result.stderr
    assert ready("restore", str(tmp_path / "missing.tar.gz"), "--yes").returncode == 1
    (tmp_path / "noise.tar.gz.gpg").write_bytes(b"\x00" * 64)
    result = ready("restore", str(tmp_path / "noise.tar.gz.gpg"), "--yes")
    assert result.returncode == 1 and "neither gzip nor gpg" in result.stderr


def _break_the_data(database: str, proxy_files: Path) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM users")
    (proxy_files / "auths" / "claude-a.json").unlink()


def _restored(database: str, proxy_files: Path) -> bool:
    auths = sorted(p.name for p in (proxy_files / "auths").iterdir())
    return _rows(database) == [(1, "ada"), (2, "grace")] and auths == ["claude-a.json"]


def test_encrypted_backup_with_a_passphrase_restores_only_with_it(
    ready, database, proxy_files, tmp_path
):
    """`backup --encrypt` writes only a gpg file (no readable SQL or secrets in it); restore
    asks for the passphrase, refuses a wrong one and leaves the data as it was."""
    secret = tmp_path / "pass"
    secret.write_text("correct horse battery\n")
    ready.env["BACKUP_PASSPHRASE_FILE"] = str(secret)
    result = ready("backup", "offsite", "--encrypt")
    assert result.returncode == 0, result.stderr
    (archive,) = (ready.dir / "backups").iterdir()
    assert re.fullmatch(r"offsite_\d{8}_\d{6}\.tar\.gz\.gpg", archive.name)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    raw = archive.read_bytes()
    assert raw[:2] != b"\x1f\x8b" and b"grace" not in raw
    plain = subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase-file", str(secret),
         "--decrypt", str(archive)],
        env=ready.env | {"GNUPGHOME": str(tmp_path)}, capture_output=True, check=True,
    ).stdout  # fmt: skip
    (tmp_path / "plain.tar.gz").write_bytes(plain)
    with tarfile.open(tmp_path / "plain.tar.gz") as tar:
        names = sorted(m.name.removeprefix("./") for m in tar.getmembers() if m.name != ".")
    assert names == ["database.sql", "env", "proxy.tar"]  # nothing else (gpg's home)
    assert ready.env_file.read_text().split("JWT_SECRET=")[1][:64].encode() not in raw
    _break_the_data(database, proxy_files)

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    ready.env["BACKUP_PASSPHRASE_FILE"] = str(wrong)
    before = len(ready.calls())
    result = ready("restore", str(archive), "--yes")
    assert result.returncode == 1 and "wrong passphrase" in result.stderr
    assert len(ready.calls()) == before  # nothing stopped, nothing touched

    del ready.env["BACKUP_PASSPHRASE_FILE"]
    result = ready("restore", str(archive), "--yes")  # no terminal to ask on
    assert result.returncode == 1 and "BACKUP_PASSPHRASE_FILE" in result.stderr

    ready.env["BACKUP_PASSPHRASE_FILE"] = str(secret)
    result = ready("restore", str(archive), "--yes")
    assert result.returncode == 0, result.stderr
    assert _restored(database, proxy_files)


def test_encrypted_backup_to_a_recipient_key(ready, database, proxy_files, tmp_path):
    """`backup --recipient KEY` encrypts to a public key; the holder of the secret key
    restores without any passphrase prompt."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    ready.env["GNUPGHOME"] = str(home)
    subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
         "--quick-gen-key", "ops@example.test", "default", "default", "never"],
        env=ready.env, check=True, capture_output=True,
    )  # fmt: skip
    result = ready("backup", "--recipient", "ops@example.test")
    assert result.returncode == 0, result.stderr
    (archive,) = (ready.dir / "backups").glob("*.tar.gz.gpg")
    _break_the_data(database, proxy_files)
    result = ready("restore", str(archive), "--yes")
    assert result.returncode == 0, result.stderr
    assert _restored(database, proxy_files)

    result = ready("backup", "--recipient", "nobody@example.test")
    assert result.returncode == 1 and "nobody@example.test" in result.stderr


def test_rotate_backups_counts_encrypted_ones(manage):
    backups = manage.dir / "backups"
    backups.mkdir()
    names = ["a_20260101_000000.tar.gz", "b_20260102_000000.tar.gz.gpg", "c_20260103_000000.tar.gz"]
    for name in names:
        (backups / name).write_text("x")
    assert manage("rotate-backups", "2").returncode == 0
    assert sorted(p.name for p in backups.iterdir()) == names[1:]


SESSION_ID = "f" * 64


@pytest.fixture
def migrated(manage, database_url) -> str:
    """A migrated database the stub's `exec dashboard` reaches, with one signed-in session."""
    manage.env["STUB_DATABASE_URL"] = database_url
    with psycopg.connect(database_url, autocommit=True) as conn:
        (user_id,) = conn.execute(
            "INSERT INTO users (username, password_hash, role) VALUES ('ada', 'x', 'admin')"
            " RETURNING id"
        ).fetchone()
        conn.execute(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES (%s, %s, now() + '1 day')",
            (SESSION_ID, user_id),
        )
    return database_url


def _env(manage: Manage) -> dict[str, str]:
    lines = manage.env_file.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _store_secret(url: str, key_hex: str, plain: str, digest: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO provider_keys (user_id, provider, key_sha256, masked_label,"
            " secret_encrypted) SELECT id, 'claude', %s, 'sk…', %s FROM users LIMIT 1",
            (digest, seal(bytes.fromhex(key_hex), plain)),
        )


def _stored(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT secret_encrypted FROM provider_keys ORDER BY id").fetchall()
    return [r[0] for r in rows]


def test_rotate_secrets_replaces_them_proxy_first(ready, migrated):
    """New values for the four secrets, applied to the proxy, then the others; the stored
    secret re-encrypted with the new key, the old key gone from .env, sessions ended."""
    before = _env(ready)
    _store_secret(migrated, before["PROVIDER_ENCRYPTION_KEY"], "sk-ant-secret", "d1")
    result = ready("rotate-secrets", "--yes")
    assert result.returncode == 0, result.stderr
    after = _env(ready)
    for name in (
        "MANAGEMENT_API_KEY",
        "COLLECTOR_API_KEY",
        "JWT_SECRET",
        "PROVIDER_ENCRYPTION_KEY",
    ):
        assert re.fullmatch(r"[0-9a-f]{64}", after[name]) and after[name] != before[name], name
    assert after["POSTGRES_PASSWORD"] == before["POSTGRES_PASSWORD"]
    assert "PROVIDER_ENCRYPTION_KEY_OLD" not in after
    assert stat.S_IMODE(ready.env_file.stat().st_mode) == 0o600
    (sealed,) = _stored(migrated)
    assert unseal(bytes.fromhex(after["PROVIDER_ENCRYPTION_KEY"]), sealed) == "sk-ant-secret"
    with psycopg.connect(migrated) as conn:
        assert conn.execute("SELECT revoked_at IS NOT NULL FROM sessions").fetchone() == (True,)
    assert ready.calls() == [
        ["up", "-d", "--wait", "--no-deps", "proxy"],
        ["up", "-d", "--wait", "--no-deps", "collector", "dashboard"],
        ["exec", "-T", "dashboard", "python", "-m", "services.dashboard.rotate"],
        ["up", "-d", "--wait", "--no-deps", "dashboard"],
    ]
    assert before["JWT_SECRET"] not in result.stdout + result.stderr


def test_a_failed_reencryption_keeps_the_old_key_and_resumes(ready, migrated):
    """A secret no key opens stops the rotation with the old key kept in .env; once fixed, a
    second run resumes with the encryption key the first one chose."""
    before = _env(ready)
    _store_secret(migrated, before["PROVIDER_ENCRYPTION_KEY"], "sk-good", "d1")
    _store_secret(migrated, "cd" * 32, "sk-lost", "d2")
    result = ready("rotate-secrets", "--yes")
    assert result.returncode == 1
    assert "PROVIDER_ENCRYPTION_KEY_OLD stays" in result.stderr
    half = _env(ready)
    assert half["PROVIDER_ENCRYPTION_KEY_OLD"] == before["PROVIDER_ENCRYPTION_KEY"]
    assert unseal(bytes.fromhex(before["PROVIDER_ENCRYPTION_KEY"]), _stored(migrated)[0])

    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("DELETE FROM provider_keys WHERE key_sha256 = 'd2'")
    result = ready("rotate-secrets", "--yes")
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    after = _env(ready)
    assert after["PROVIDER_ENCRYPTION_KEY"] == half["PROVIDER_ENCRYPTION_KEY"]
    assert "PROVIDER_ENCRYPTION_KEY_OLD" not in after
    assert (
        unseal(bytes.fromhex(after["PROVIDER_ENCRYPTION_KEY"]), _stored(migrated)[0]) == "sk-good"
    )


def test_rotate_secrets_asks_for_confirmation(ready):
    result = ready("rotate-secrets", input="yes\n")
    assert result.returncode == 1 and "--yes" in result.stderr
    assert ready.calls() == []
