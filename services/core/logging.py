"""structlog set-up shared by every service, with a processor that redacts secrets."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

# Keys whose values are secrets wherever they appear in an event.
_SECRET_KEYS = re.compile(
    r"(api[-_]?key|authorization|password|passwd|secret|token|cookie|x-goog-api-key|"
    r"x-management-key|access_token|refresh_token|id_token|credential)",
    re.IGNORECASE,
)
# Secret-looking substrings inside free text: provider and client key formats, bearer values.
_SECRET_VALUES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|ya29\.[0-9A-Za-z_\-]+|"
    r"(?i:bearer)\s+[A-Za-z0-9._\-+/=]{8,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]+)"
)
REDACTED = "[REDACTED]"
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a literal secret (e.g. the management key) so it is redacted wherever it appears."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact_text(text: str) -> str:
    """Replace every secret-looking substring of free text."""
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_VALUES.sub(REDACTED, text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and not isinstance(value, bool | int | float | type(None)):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret keys and secret-looking values before rendering."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(key, value)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def configure_logging(
    level: str = "INFO", fmt: str = "json", extra_handlers: Iterable[logging.Handler] = ()
) -> None:
    """Configure structlog and route stdlib loggers (aiohttp, uvicorn) through the same pipeline."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    for extra in extra_handlers:
        extra.setFormatter(formatter)
        root.addHandler(extra)
    root.setLevel(level)
    # aiohttp's access log is replaced by our own request log line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
