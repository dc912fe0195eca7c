"""The live token of one OAuth account, shared by every runtime snapshot that serves it.

The oauth layer owns these objects (one per auth file, kept across reloads in its token store)
and replaces their fields on login, refresh and file edits; requests only read them: the
Authorization header takes `access_token` per request, an attribute read.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenState:
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    expires_at: float = 0.0  # epoch seconds; 0 = unknown
    last_refresh: float = 0.0  # epoch seconds of the last login or refresh; 0 = unknown
    # Refresh this long before expiry when a request needs the token (0: only on a 401).
    refresh_before_use: float = 0.0
    status: str = "active"  # active | error
    status_message: str = ""
    # The provider rejected the refresh token: the account is skipped and never refreshed.
    unavailable: bool = False
    next_retry: float = 0.0  # epoch seconds of the next refresh attempt after a failure
    # The token fields as the file on disk had them when last read or written: a change there
    # (an upload, an edit) is adopted; anything else keeps the live values.
    file_tokens: tuple[str, str, float] = ("", "", 0.0)

    def needs_refresh_before_use(self, now: float) -> bool:
        """True when the token is expired (or about to) and should be refreshed before a call."""
        return bool(self.expires_at) and self.expires_at - now <= self.refresh_before_use
