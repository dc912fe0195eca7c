"""Ids minted for translated answers keep the shape `uuid.uuid4().hex[:24]` gave them."""

from __future__ import annotations

import re

from services.proxy.translate.codec import new_id

# 12 hex digits, the version digit 4, 3 hex digits, the RFC 4122 variant (8, 9, a, b), 7 more.
_SHAPE = re.compile(r"msg_[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{7}")


def test_ids_have_the_uuid4_shape_across_pool_refills() -> None:
    ids = [new_id("msg_") for _ in range(1000)]  # several 4 KiB pools
    assert all(_SHAPE.fullmatch(i) for i in ids), [i for i in ids if not _SHAPE.fullmatch(i)]
    assert len(set(ids)) == len(ids)
