"""Validating what users send: an account's settings and an imported auth file."""

from __future__ import annotations

import re
from typing import Any, NoReturn
from urllib.parse import urlsplit

import orjson

from services.core.errors import PayloadTooLarge, ValidationFailed

# Auth-file types the proxy serves, and the field that proves a file can be used.
TYPES = ("claude", "codex", "antigravity", "gemini", "kimi", "xai")
MAX_IMPORT = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9@._+-]{1,195}\.json$")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]{0,64}$")
_PROXY_SCHEMES = {"http", "https", "socks5", "socks5h"}


def invalid(field: str, message: str) -> NoReturn:
    raise ValidationFailed(message, details=[{"field": field, "message": message}])


def check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        invalid("fileName", "a file name of letters, digits, @._+- ending in .json")
    return name


def check_import(file_name: str, content: str) -> tuple[str, str, dict[str, Any]]:
    """(file name, type, object) of an uploaded auth file, or a 4xx naming what is wrong."""
    raw = content.encode()
    if len(raw) > MAX_IMPORT:
        raise PayloadTooLarge(f"an auth file is at most {MAX_IMPORT // 1024} KiB")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        invalid("fileContent", "the file is not valid JSON")
    if not isinstance(data, dict):
        invalid("fileContent", "the file must hold a JSON object")
    kind = data.get("type")
    if kind not in TYPES:
        invalid("type", f"type must be one of {', '.join(TYPES)}")
    token = data.get("refresh_token") or data.get("access_token")
    if not isinstance(token, str) or not token.strip():
        invalid("refresh_token", "the file has neither a refresh_token nor an access_token")
    name = file_name.strip() or f"{kind}-{data.get('email') or 'account'}.json"
    return check_name(name), str(kind), data


def check_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The proxy's `/auth-files/fields` body from the settings form; "" clears a field."""
    out: dict[str, Any] = {}
    if "prefix" in data:
        prefix = str(data["prefix"] or "").strip()
        if not _PREFIX.match(prefix):
            invalid("prefix", "a prefix is up to 64 letters, digits, . _ or -")
        out["prefix"] = prefix
    if "priority" in data:
        out["priority"] = _priority(data["priority"])
    if "proxyUrl" in data:
        out["proxy_url"] = _proxy_url(str(data["proxyUrl"] or "").strip())
    if "note" in data:
        note = str(data["note"] or "").strip()
        if len(note) > 500:
            invalid("note", "a note is at most 500 characters")
        out["note"] = note
    if "excludedModels" in data:
        out["excluded_models"] = _models(data["excludedModels"]) or ""
    if "modelAliases" in data:
        out["model_aliases"] = _aliases(data["modelAliases"]) or ""
    return out


def _priority(value: Any) -> int | str:
    if value in (None, ""):
        return ""
    try:
        number = int(value)
    except (TypeError, ValueError):
        invalid("priority", "priority must be a whole number")
    if not -1000 <= number <= 1000:
        invalid("priority", "priority must be between -1000 and 1000")
    return number


def _proxy_url(url: str) -> str:
    if url and (urlsplit(url).scheme not in _PROXY_SCHEMES or not urlsplit(url).hostname):
        invalid("proxyUrl", "a proxy URL starts with http://, https:// or socks5://")
    return url


def _models(value: Any) -> list[str]:
    items = value.splitlines() if isinstance(value, str) else value
    if not isinstance(items, list):
        invalid("excludedModels", "one model pattern per line")
    models = [str(m).strip() for m in items if str(m).strip()]
    if len(models) > 200 or any(len(m) > 200 for m in models):
        invalid("excludedModels", "at most 200 patterns of 200 characters")
    return list(dict.fromkeys(models))


def _aliases(value: Any) -> list[dict[str, Any]]:
    """From a list of {name, alias, fork} or from lines "model = alias" ("+=" forks)."""
    items = _alias_lines(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        invalid("modelAliases", "one alias per line: model = alias")
    out = []
    for item in items:
        name = str(item.get("name", "")).strip() if isinstance(item, dict) else ""
        alias = str(item.get("alias", "")).strip() if isinstance(item, dict) else ""
        if not name or not alias or len(name) > 200 or len(alias) > 200:
            invalid("modelAliases", "each alias needs a model and a new name")
        out.append({"name": name, "alias": alias, "fork": bool(item.get("fork"))})
    return out


def _alias_lines(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        fork = "+=" in line
        name, _, alias = line.partition("+=" if fork else "=")
        if not alias:
            invalid("modelAliases", f"{line!r}: write model = alias")
        rows.append({"name": name.strip(), "alias": alias.strip(), "fork": fork})
    return rows
