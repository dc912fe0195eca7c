"""What the request schemas share: exact types, unknown fields kept, null where absent is fine.

The models describe only what the proxy reads; everything else in a body passes unchecked, as
the providers accept fields they do not know. Types are strict (`"5"` is not an integer) so a
value the translator would trip over is refused at the door instead.
"""

from __future__ import annotations

from pydantic import ConfigDict

# Strict: no coercion, so the validated body is exactly what the client sent. A float field
# still takes an integer (JSON has one number type).
SCHEMA_CONFIG = ConfigDict(extra="allow", strict=True)
