"""Event ids: version-4 UUIDs in their canonical text, never repeated."""

from __future__ import annotations

import uuid

from services.proxy.usage.event_ids import EventIds


def test_ids_are_canonical_uuid4_and_unique_across_reads():
    ids = EventIds()
    seen = [ids.next() for _ in range(1000)]  # several CSPRNG reads
    assert len(set(seen)) == len(seen)
    for raw in seen:
        parsed = uuid.UUID(raw.decode())
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed).encode() == raw
