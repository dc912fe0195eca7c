"""`/auth-files*`: list, models, download, upload (multipart or raw), delete, status, fields."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import BodyPartReader, web

from services.core.errors import AppError, BadRequest, PayloadTooLarge

from ..inbound.request_body import read_body, refuse_encoded
from .auth_files import AuthFile, AuthFileStore, describe, validate_name
from .bodies import is_true, parse_json, read_object
from .context import ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response

log = structlog.get_logger(__name__)
_BASE = f"{MANAGEMENT_PREFIX}/auth-files"


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_alias_list(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(x, dict) and _is_str(x.get("name")) and _is_str(x.get("alias")) for x in v
    )


# Settings an operator may change through PATCH /auth-files/fields; tokens are not among them.
PATCHABLE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "prefix": _is_str,
    "proxy_url": _is_str,
    "headers": _is_str_map,
    "priority": _is_int,
    "weight": _is_count,
    "note": _is_str,
    "excluded_models": _is_str_list,
    "model_aliases": _is_alias_list,
    "disabled": lambda v: isinstance(v, bool),
    "request_retry": _is_count,
    "disable_cooling": lambda v: isinstance(v, bool),
    "refresh_interval_seconds": _is_count,
    "expired": _is_str,
}
_SELECTORS = frozenset({"name", "auth_index", "authIndex"})


def field_patch(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(changes, ignored keys); a null or empty-string value removes the field."""
    changes: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in body.items():
        if key in _SELECTORS:
            continue
        check = PATCHABLE_FIELDS.get(key)
        if check is None:
            ignored.append(key)
        elif value is None or value == "" or check(value):
            changes[key] = value.strip() if isinstance(value, str) else value
        else:
            raise BadRequest(f"invalid value for {key}")
    return changes, ignored


def _apply(changes: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        for key, value in changes.items():
            if value is None or value == "":
                data.pop(key, None)
            else:
                data[key] = value

    return mutate


def _selector(body: dict[str, Any]) -> tuple[str | None, str | None]:
    name = body.get("name")
    index = body.get("auth_index", body.get("authIndex"))
    if not (isinstance(name, str) and name.strip()) and not (isinstance(index, str) and index):
        raise BadRequest("invalid body: name or auth_index is required")
    return (name.strip() if isinstance(name, str) and name.strip() else None), (
        index if isinstance(index, str) else None
    )


class AuthFileRoutes:
    """Handlers sharing one store; mutations are serialized so read-modify-writes never race."""

    def __init__(self, ctx: ManagementContext) -> None:
        self.ctx = ctx
        # With the OAuth layer, its store and lock: refresh write-backs and these edits of one
        # file never interleave, and every change is live at once (`_changed`).
        oauth = ctx.oauth
        self.store = (
            oauth.store if oauth else AuthFileStore(ctx.auth_dir, ctx.limits.auth_file_max_bytes)
        )
        self.lock = oauth.pool.lock if oauth else asyncio.Lock()

    async def _changed(self) -> None:
        if self.ctx.oauth is not None:
            await self.ctx.oauth.pool.rescan()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def list_files(self, request: web.Request) -> web.Response:
        files: list[AuthFile] = await self._run(self.store.list)
        name, index = request.query.get("name"), request.query.get("auth_index")
        entries = [
            describe(f, self.ctx.auth_stats(f.auth_index))
            for f in files
            if (not name or f.name == name) and (not index or f.auth_index == index)
        ]
        return json_response({"files": entries})

    async def list_models(self, request: web.Request) -> web.Response:
        file: AuthFile = await self._run(self.store.get, request.query.get("name", ""))
        models = _models_in_file(file.data or {})
        if not models:
            models = [
                {"id": m.id, "display_name": m.display_name or m.id}
                for m in self.ctx.models_for(file.auth_index)
            ]
        return json_response({"models": models})

    async def download(self, request: web.Request) -> web.Response:
        name = validate_name(request.query.get("name", ""))
        raw: bytes = await self._run(self.store.read_bytes, name)
        return web.Response(
            body=raw,
            content_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def upload(self, request: web.Request) -> web.Response:
        if request.content_type.startswith("multipart/"):
            try:
                uploaded, failed = await self._upload_parts(request)
            except (ValueError, AssertionError, EOFError) as exc:
                # aiohttp's multipart reader reports malformed bodies with these.
                raise BadRequest(f"invalid multipart form: {type(exc).__name__}") from None
        else:
            uploaded, failed = await self._upload_raw(request), []
        for name in uploaded:
            log.info("auth_file_uploaded", name=name)
        return _batch_reply("uploaded", uploaded, failed)

    async def _write(self, name: str, raw: bytes) -> None:
        # The lock covers disk work only, never reading a (possibly slow) request body.
        async with self.lock:
            await self._run(self.store.write, name, raw)
        await self._changed()

    async def _upload_raw(self, request: web.Request) -> list[str]:
        name = validate_name(request.query.get("name", ""))
        await self._write(name, await read_body(request, self.store.max_bytes))
        return [name]

    async def _upload_parts(self, request: web.Request) -> tuple[list[str], list[dict[str, str]]]:
        parts = await self._read_parts(request)
        if not parts:
            raise BadRequest("no files uploaded")
        uploaded: list[str] = []
        failed: list[dict[str, str]] = []
        for filename, raw in parts:
            try:
                name = validate_name(filename)
                await self._write(name, raw)
            except BadRequest as exc:
                failed.append({"name": filename, "error": exc.message})
            else:
                uploaded.append(name)
        return uploaded, failed

    async def _read_parts(self, request: web.Request) -> list[tuple[str, bytes]]:
        """All file parts, read before anything is written: a malformed form stores nothing."""
        limits = self.ctx.limits
        refuse_encoded(request)  # the multipart parser reads the raw stream
        reader = await request.multipart()
        parts: list[tuple[str, bytes]] = []
        total = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.filename is None:
                continue  # other form fields
            if len(parts) >= limits.auth_upload_max_files:
                raise PayloadTooLarge("too many files in one upload")
            raw = await _read_part(part, self.store.max_bytes)
            total += len(raw)
            if total > limits.auth_upload_max_bytes:
                raise PayloadTooLarge(f"upload exceeds {limits.auth_upload_max_bytes} bytes")
            parts.append((part.filename, raw))
        return parts

    async def delete(self, request: web.Request) -> web.Response:
        if is_true(request.query.get("all")):
            async with self.lock:
                count: int = await self._run(self.store.delete_all)
            await self._changed()
            log.info("auth_files_deleted", count=count)
            return json_response({"status": "ok", "deleted": count})
        names = await _names_to_delete(request, self.ctx.limits.json_body_max_bytes)
        deleted: list[str] = []
        failed: list[dict[str, str]] = []
        async with self.lock:
            for name in names:
                try:
                    await self._run(self.store.delete, name)
                except AppError as exc:
                    if len(names) == 1:
                        raise
                    failed.append({"name": name, "error": exc.message})
                else:
                    log.info("auth_file_deleted", name=name)
                    deleted.append(name)
        await self._changed()
        return _batch_reply("deleted", deleted, failed)

    async def patch_status(self, request: web.Request) -> web.Response:
        body = await read_object(request, self.ctx.limits.json_body_max_bytes)
        disabled = body.get("disabled")
        if not isinstance(disabled, bool):
            raise BadRequest("invalid body: disabled must be true or false")
        async with self.lock:
            file: AuthFile = await self._run(self.store.find, *_selector(body))
            await self._run(self.store.update, file.name, _apply({"disabled": disabled}))
        await self._changed()
        log.info("auth_file_status_changed", name=file.name, disabled=disabled)
        return json_response({"status": "ok", "disabled": disabled})

    async def patch_fields(self, request: web.Request) -> web.Response:
        body = await read_object(request, self.ctx.limits.json_body_max_bytes)
        selector = _selector(body)
        changes, ignored = field_patch(body)
        async with self.lock:
            file: AuthFile = await self._run(self.store.find, *selector)
            await self._run(self.store.update, file.name, _apply(changes))
        await self._changed()
        log.info("auth_file_fields_changed", name=file.name, fields=sorted(changes))
        reply: dict[str, Any] = {"status": "ok"}
        if ignored:
            reply["ignored"] = ignored
        return json_response(reply)


async def _read_part(part: BodyPartReader, max_bytes: int) -> bytes:
    buf = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        buf += chunk
        if len(buf) > max_bytes:
            raise PayloadTooLarge(f"auth file {part.filename!r} exceeds {max_bytes} bytes")
    return bytes(buf)


async def _names_to_delete(request: web.Request, max_bytes: int) -> list[str]:
    names = request.query.getall("name", [])
    if not names:
        body = parse_json(raw) if (raw := await read_body(request, max_bytes)).strip() else {}
        if isinstance(body, list):
            names = body
        elif isinstance(body, dict):
            single = [body["name"]] if isinstance(body.get("name"), str) else []
            names = single + list(body.get("names") or [])
    if not all(isinstance(n, str) for n in names):
        raise BadRequest("invalid body: names must be strings")
    unique = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not unique:
        raise BadRequest("invalid name")
    return unique


def _batch_reply(verb: str, done: list[str], failed: list[dict[str, str]]) -> web.Response:
    body: dict[str, Any] = {verb: len(done), "files": done, "failed": failed}
    if not failed:
        return json_response({"status": "ok", **body})
    if not done:
        message = failed[0]["error"] if len(failed) == 1 else f"no files {verb}"
        return json_response({"status": "error", "error": message, **body}, 400)
    return json_response({"status": "partial", **body}, 207)


def _models_in_file(data: dict[str, Any]) -> list[dict[str, str]]:
    raw = data.get("models")
    if not isinstance(raw, list):
        return []
    models = []
    for entry in raw:
        if isinstance(entry, str) and entry.strip():
            models.append({"id": entry.strip(), "display_name": entry.strip()})
        elif isinstance(entry, dict):
            model_id = entry.get("id") or entry.get("name") or entry.get("alias")
            if isinstance(model_id, str) and model_id.strip():
                shown = entry.get("display_name") or entry.get("display-name") or model_id
                models.append({"id": model_id.strip(), "display_name": str(shown)})
    return models


def auth_file_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    handlers = AuthFileRoutes(ctx)
    return [
        web.get(_BASE, handlers.list_files),
        web.post(_BASE, handlers.upload),
        web.delete(_BASE, handlers.delete),
        web.get(f"{_BASE}/models", handlers.list_models),
        web.get(f"{_BASE}/download", handlers.download),
        web.patch(f"{_BASE}/status", handlers.patch_status),
        web.patch(f"{_BASE}/fields", handlers.patch_fields),
    ]
