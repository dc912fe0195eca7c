"""The deploy webhook's signature (docs/api.md has the scheme and a curl example).

The caller signs `<timestamp>.<body>` with HMAC-SHA256 under DEPLOY_SECRET and sends
`X-Deploy-Timestamp: <unix seconds>` and `X-Deploy-Signature: sha256=<hex>`. A timestamp
more than five minutes from the dashboard's clock is stale; a signature already accepted is a
replay (kept in Postgres, so every replica refuses it). The seed's plain `X-Deploy-Token` is
not accepted: a token sent as is can be replayed by whoever saw one request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

TIMESTAMP_HEADER = "x-deploy-timestamp"
SIGNATURE_HEADER = "x-deploy-signature"
WINDOW_S = 300
MAX_BODY = 4096


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str  # why it was refused: unsigned, stale, bad_signature
    signature: str = ""


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None
) -> Verdict:
    """Checks the headers against the body; the replay check is the caller's (Postgres)."""
    if not timestamp or not signature:
        return Verdict(False, "unsigned")
    if not timestamp.isdigit() or len(timestamp) > 12:
        return Verdict(False, "stale")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > WINDOW_S:
        return Verdict(False, "stale")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        return Verdict(False, "bad_signature")
    return Verdict(True, "", expected)


def fingerprint(signature: str) -> str:
    """What the replay table stores: a digest, not the signature itself."""
    return hashlib.sha256(signature.encode()).hexdigest()
