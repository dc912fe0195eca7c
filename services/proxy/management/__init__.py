"""CLIProxyAPI-compatible management API (`/v0/management/*`) of the proxy.

Usage in the app: `app.middlewares.append(management_middleware(ctx))` and
`app.add_routes(management_routes(ctx))`.
"""

from __future__ import annotations

from .auth_files import auth_file_index
from .context import (
    AuthStats,
    CredentialInfo,
    ManagementContext,
    ManagementLimits,
    ModelInfo,
    RequestBucket,
)
from .middleware import MANAGEMENT_PREFIX, management_middleware
from .routes import management_routes

__all__ = [
    "MANAGEMENT_PREFIX",
    "AuthStats",
    "CredentialInfo",
    "ManagementContext",
    "ManagementLimits",
    "ModelInfo",
    "RequestBucket",
    "auth_file_index",
    "management_middleware",
    "management_routes",
]
