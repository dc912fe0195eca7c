"""The error hierarchy every service raises; each app has one place that renders it.

AppError (500 internal_error)
├── BadRequest (400 bad_request)
│   └── ValidationFailed (400 validation_error)
├── Unauthorized (401 unauthorized)
├── Forbidden (403 forbidden)
├── NotFound (404 not_found)
├── Conflict (409 conflict)
├── PayloadTooLarge (413 request_too_large)
├── Unprocessable (422 invalid_config)
├── TooManyRequests (429 rate_limited)
└── UpstreamError (502 upstream_error)
    └── Unavailable (503 unavailable)
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """Base of all expected failures: carries an HTTP status, a stable code and a message."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance override of the class default


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class ValidationFailed(BadRequest):
    code = "validation_error"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "request_too_large"


class Unprocessable(AppError):
    status = 422
    code = "invalid_config"


class TooManyRequests(AppError):
    status = 429
    code = "rate_limited"


class UpstreamError(AppError):
    status = 502
    code = "upstream_error"


class Unavailable(UpstreamError):
    status = 503
    code = "unavailable"
