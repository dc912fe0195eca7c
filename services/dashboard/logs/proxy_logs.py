"""Every proxy replica's logs through its management API, each entry naming its replica:
`GET /v0/management/logs` (tail, then follow with a cursor per replica), the request error
logs (list, view, download) and clearing. Level filter and search apply to what the proxies
return (their API has neither)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from services.core.errors import NotFound, ValidationFailed
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable

LEVELS = ("debug", "info", "warn", "error", "fatal")
_RANK = {name: i for i, name in enumerate(LEVELS)} | {"warning": 2, "critical": 4, "panic": 4}
_LINE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] \[[^\]]*\] \[(\w+)\s*\]")
ERROR_LOG = re.compile(r"error-[A-Za-z0-9._\-]{1,200}\.log")
VIEW_LIMIT = 1024 * 1024  # a request error log is shown up to 1 MiB; download for the rest
DOWNLOAD_LIMIT = 64 * 1024 * 1024
MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class Entry:
    replica: str
    at: float | None  # unix seconds; None when the line carries no time
    level: str
    text: str


@dataclass(frozen=True, slots=True)
class Filter:
    level: str = ""  # minimum level; "" for all
    query: str = ""

    def keeps(self, entry: Entry) -> bool:
        if self.level and _RANK.get(entry.level, 1) < _RANK[self.level]:
            return False
        return not self.query or self.query.lower() in entry.text.lower()


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    cursor: str
    problems: list[str]


def check_filter(level: str | None, query: str | None) -> Filter:
    level = (level or "").strip().lower()
    if level and level not in LEVELS:
        raise ValidationFailed(
            "level must be one of " + ", ".join(LEVELS),
            details=[{"field": "level", "message": "invalid"}],
        )
    query = (query or "").strip()
    if len(query) > MAX_QUERY:
        raise ValidationFailed(f"the search is at most {MAX_QUERY} characters")
    return Filter(level, query)


def entries_of(replica: str, lines: list[str]) -> list[Entry]:
    """Lines to entries; continuation lines (tracebacks) stay with their entry."""
    out: list[Entry] = []
    for line in lines:
        match = _LINE.match(line)
        if match is None and out:
            last = out[-1]
            out[-1] = Entry(last.replica, last.at, last.level, f"{last.text}\n{line}")
            continue
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp() if match else None
        level = match.group(2).lower() if match else "info"
        out.append(Entry(replica, at, _LEVELS_ALIAS.get(level, level), line))
    return out


_LEVELS_ALIAS = {"warning": "warn", "critical": "fatal"}


def encode_cursor(cursors: dict[str, str]) -> str:
    raw = orjson.dumps(cursors)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> dict[str, str]:
    """The per-replica cursors; a damaged cursor starts again from the tail (never an error)."""
    if not text:
        return {}
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str) and len(v) < 512}


async def read(client: ManagementClient, limit: int, cursor: str | None, keep: Filter) -> Page:
    """The newest `limit` lines of every replica (or those since `cursor`), merged by time."""
    cursors = decode_cursor(cursor)
    labels = client.labels
    results = await asyncio.gather(
        *(
            _one(client, url, limit, cursors.get(label))
            for url, label in zip(client.urls, labels, strict=True)
        ),
        return_exceptions=True,
    )
    entries: list[Entry] = []
    problems: list[str] = []
    following: dict[str, str] = {}
    for label, result in zip(labels, results, strict=True):
        if isinstance(result, BaseException):
            problems.append(f"{label}: {_problem(result)}")
            if label in cursors:
                following[label] = cursors[label]
            continue
        lines, next_cursor = result
        entries += entries_of(label, lines)
        following[label] = next_cursor
    entries.sort(key=lambda e: e.at or 0.0)  # stable: a replica's own order is kept
    kept = [e for e in entries if keep.keeps(e)]
    return Page(kept[-limit:], encode_cursor(following), problems)


async def _one(
    client: ManagementClient, url: str, limit: int, cursor: str | None
) -> tuple[list[str], str]:
    params = {"limit": str(limit)}
    if cursor:
        params["cursor"] = cursor
    body = await client.get_json(url, "/v0/management/logs", params)
    if not isinstance(body, dict):
        raise ProxyUnavailable(f"{url}: /logs did not answer an object")
    lines = [str(line) for line in body.get("lines") or []]
    return lines, str(body.get("next-cursor") or "")


def _problem(exc: BaseException) -> str:
    text = getattr(exc, "message", str(exc))
    if "logging to file disabled" in text:
        return "logging to file is off (turn it on in Proxy settings)"
    return text


async def error_logs(client: ManagementClient) -> tuple[list[dict[str, Any]], list[str]]:
    """Every replica's request error logs, newest first, each naming its replica (by index)."""
    labels = client.labels
    results = await asyncio.gather(
        *(client.get_json(url, "/v0/management/request-error-logs") for url in client.urls),
        return_exceptions=True,
    )
    files: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, (label, result) in enumerate(zip(labels, results, strict=True)):
        if isinstance(result, BaseException):
            problems.append(f"{label}: {_problem(result)}")
            continue
        for item in (result or {}).get("files") or []:
            if isinstance(item, dict) and ERROR_LOG.fullmatch(str(item.get("name", ""))):
                modified = item.get("modified")
                at = datetime.fromtimestamp(modified, UTC) if isinstance(modified, int) else None
                files.append({**item, "replica": label, "replicaIndex": index, "modifiedAt": at})
    files.sort(key=lambda f: (f.get("modified") or 0, f["name"]), reverse=True)
    return files, problems


def check_error_log(client: ManagementClient, replica: int, name: str) -> str:
    """The proxy URL of replica `replica` after checking the file name; 404 / 400 otherwise."""
    if not 0 <= replica < len(client.urls):
        raise NotFound("no such proxy replica")
    if not ERROR_LOG.fullmatch(name) or ".." in name:
        raise ValidationFailed(
            "not a request error log name", details=[{"field": "name", "message": "invalid"}]
        )
    return client.urls[replica]


async def error_log(
    client: ManagementClient, replica: int, name: str, limit: int
) -> tuple[bytes, bool]:
    url = check_error_log(client, replica, name)
    return await client.get_bytes(url, f"/v0/management/request-error-logs/{quote(name)}", limit)


async def clear(client: ManagementClient) -> list[str]:
    """Clear every replica's logs; returns the problems (replicas that refused)."""
    labels = client.labels  # before the await: the set of replicas may change meanwhile
    results = await asyncio.gather(
        *(client.delete(url, "/v0/management/logs") for url in client.urls),
        return_exceptions=True,
    )
    return [
        f"{label}: {_problem(r)}"
        for label, r in zip(labels, results, strict=True)
        if isinstance(r, BaseException)
    ]
