"""Request ids come from a pool of CSPRNG bytes: each is 16 hex digits and none repeats, across
the pool's refills too."""

from __future__ import annotations

import re

from services.proxy.http.client_requests import _RequestIds


def test_ids_are_16_hex_digits_and_distinct_across_refills() -> None:
    ids = _RequestIds()
    made = [ids.next() for _ in range(1000)]  # about four pools
    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in made)
    assert len(set(made)) == len(made)
