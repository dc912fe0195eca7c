"""The run folder of `make run`: secrets generated once, a valid loopback proxy config."""

from __future__ import annotations

import hashlib
import stat

from pydantic import SecretStr

from services.core.settings import require_secret
from services.proxy.config.loader import load_file
from tools.run.__main__ import _masked
from tools.run.state import (
    SECRET_FACTORIES,
    ensure_proxy_config,
    ensure_secrets,
    proxy_listen,
    read_env_file,
    set_proxy_port,
)


def test_secrets_are_generated_once_with_mode_600(tmp_path):
    """Every secret exists, is strong enough for the services, and survives a second call."""
    path = tmp_path / "secrets.env"
    first = ensure_secrets(path)
    assert set(first) == set(SECRET_FACTORIES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    require_secret("JWT_SECRET", SecretStr(first["JWT_SECRET"]), min_length=32)
    require_secret("MANAGEMENT_API_KEY", SecretStr(first["MANAGEMENT_API_KEY"]), min_length=16)
    assert len(bytes.fromhex(first["PROVIDER_ENCRYPTION_KEY"])) == 32
    assert first["LOCAL_CLIENT_KEY"].startswith("sk-")
    assert ensure_secrets(path) == first
    assert read_env_file(path) == first


def test_only_missing_secrets_are_added(tmp_path):
    """An operator's own value is kept; a deleted line is regenerated; the mode is repaired."""
    path = tmp_path / "secrets.env"
    path.write_text("# mine\nJWT_SECRET=" + "x" * 40 + "\n")
    path.chmod(0o644)
    values = ensure_secrets(path)
    assert values["JWT_SECRET"] == "x" * 40
    assert len(values["COLLECTOR_API_KEY"]) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generated_proxy_config_is_valid_and_loopback(tmp_path):
    """The proxy's own loader accepts the file; it listens on loopback and knows one key."""
    path = tmp_path / "config.yaml"
    ensure_proxy_config(path, port=18317, client_key="sk-local")
    loaded = load_file(path)
    assert loaded.config.host == "127.0.0.1"
    assert loaded.config.port == 18317
    digest = hashlib.sha256(b"sk-local").hexdigest()
    assert loaded.config.api_keys == [f"sha256:{digest}"]
    assert loaded.warnings == ()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_proxy_config_is_never_overwritten(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("port: 9999\n")
    ensure_proxy_config(path, port=8317, client_key="sk-local")
    assert path.read_text() == "port: 9999\n"
    assert proxy_listen(path) == ("127.0.0.1", 9999)


def test_port_change_keeps_comments(tmp_path):
    path = tmp_path / "config.yaml"
    ensure_proxy_config(path, port=8317, client_key="sk-local")
    set_proxy_port(path, 18000)
    text = path.read_text()
    assert "port: 18000" in text
    assert "# Loopback only" in text
    assert load_file(path).config.port == 18000


def test_banner_masks_the_database_password():
    masked = _masked("postgresql://postgres:s3cret@127.0.0.1:5433/llm_gateway")
    assert masked == "postgresql://postgres:***@127.0.0.1:5433/llm_gateway"
    assert (
        _masked("host=db user=u password=s3cret dbname=x") == "host=db user=u password=*** dbname=x"
    )
