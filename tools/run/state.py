"""The git-ignored run folder: generated secrets, the proxy's config.yaml and recorded ports.

Everything here is created once and reused, so a second `make run` finds the same database,
the same secrets and the same proxy state.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from services.proxy.config.files import write_atomic

_BASE62 = string.ascii_letters + string.digits


def _base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


# Each secret the local stack needs, and how a fresh one is made. Lengths match what the
# services require (DESIGN.md section 3); the client key has the dashboard's `sk-` format.
SECRET_FACTORIES = {
    "POSTGRES_PASSWORD": lambda: _base62(32),
    "JWT_SECRET": lambda: _base62(64),
    "MANAGEMENT_API_KEY": lambda: _base62(48),
    "COLLECTOR_API_KEY": lambda: _base62(48),
    "PROVIDER_ENCRYPTION_KEY": lambda: secrets.token_hex(32),
    "LOCAL_CLIENT_KEY": lambda: "sk-" + _base62(48),
}

_SECRETS_HEADER = """\
# Secrets of the local stack started by `make run`; generated once, reused on every run.
# Keep this file private (mode 600). Delete a line to have a new value generated.
# LOCAL_CLIENT_KEY is a client API key the generated proxy config accepts (as its sha256).
"""


@dataclass(frozen=True)
class RunState:
    """Paths inside the run folder."""

    root: Path

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    @property
    def proxy_dir(self) -> Path:
        return self.root / "proxy"

    @property
    def proxy_config(self) -> Path:
        return self.proxy_dir / "config.yaml"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proxy_dir.mkdir(exist_ok=True)

    def load_recorded(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, **values: Any) -> None:
        data = self.load_recorded() | values
        write_atomic(self.state_file, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=value lines, ignoring comments and blanks."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def ensure_secrets(path: Path) -> dict[str, str]:
    """Return the stack's secrets, generating only the missing ones; the file stays mode 600."""
    values = read_env_file(path)
    missing = [name for name in SECRET_FACTORIES if not values.get(name)]
    if missing or not path.exists():
        for name in missing:
            values[name] = SECRET_FACTORIES[name]()
        body = _SECRETS_HEADER + "".join(f"{k}={v}\n" for k, v in values.items())
        # Created with 600 from the start: the secrets are never world-readable, not even briefly.
        write_atomic(path, body, mode=0o600)
    os.chmod(path, 0o600)
    return values


_PROXY_CONFIG = """\
# Proxy configuration of the local stack, written once by `make run`; edit freely, it is
# hot-reloaded. Key names follow CLIProxyAPI, so an existing config.yaml can replace this one.

# Loopback only: nothing outside this machine can reach the proxy.
host: 127.0.0.1
port: {port}

# Client API keys the proxy accepts (plaintext or "sha256:<hex>" entries). The dashboard adds
# the keys its users create. This first entry is the digest of LOCAL_CLIENT_KEY in
# secrets.env, so `make run-proxy` works without the dashboard. An empty list refuses every
# inference request: the proxy is never open.
api-keys:
  - "sha256:{client_key_digest}"

# Upstreams, for example:
# openai-compatibility:
#   - name: local
#     base-url: http://127.0.0.1:11434/v1
#     api-key-entries:
#       - api-key: sk-...
#     models:
#       - name: llama3

routing:
  strategy: round-robin
"""


def ensure_proxy_config(path: Path, *, port: int, client_key: str) -> None:
    """Write the default proxy config when there is none yet."""
    if path.exists():
        return
    digest = hashlib.sha256(client_key.encode()).hexdigest()
    write_atomic(path, _PROXY_CONFIG.format(port=port, client_key_digest=digest), mode=0o600)


def proxy_listen(path: Path) -> tuple[str, int]:
    """Host and port the proxy config names (defaults as in the proxy's model)."""
    doc = YAML(typ="safe").load(path.read_text()) or {}
    return str(doc.get("host") or "127.0.0.1"), int(doc.get("port") or 8317)


def set_proxy_port(path: Path, port: int) -> None:
    """Change `port:` in place, keeping the operator's comments and key order."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    doc = yaml.load(path.read_text())
    doc["port"] = port
    out = io.StringIO()
    yaml.dump(doc, out)
    # The running proxy hot-reloads this file: it must never see it half written.
    write_atomic(path, out.getvalue())
