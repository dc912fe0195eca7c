"""upstream_message: the message of an upstream error body, whatever its format."""

from __future__ import annotations

import pytest

from services.proxy.translate.errors import upstream_message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"type":"error","error":{"type":"invalid_request_error","message":"too long"}}',
            "too long",
        ),
        (
            b'{"error":{"message":"too long","type":"invalid_request_error","code":null}}',
            "too long",
        ),
        (b'{"error":{"code":400,"message":"too long","status":"INVALID_ARGUMENT"}}', "too long"),
        (b'[{"error":{"code":400,"message":"too long","status":"INVALID_ARGUMENT"}}]', "too long"),
        (b'{"error":"too long"}', "too long"),
        (b'{"error":{"message":""}}', None),
        (b'{"detail":"nope"}', None),
        (b"[]", None),
        (b"not json", None),
    ],
)
def test_upstream_message(body, message):
    assert upstream_message(body) == message


def test_long_messages_are_capped():
    assert upstream_message(b'{"error":{"message":"' + b"x" * 5000 + b'"}}') == "x" * 2000
