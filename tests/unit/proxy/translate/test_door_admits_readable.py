"""Whatever the door admits, every reader and writer can take: a mutated body is either refused
with a BadRequest or translated to each upstream format without an exception, unless that
upstream's rules refuse it on purpose (`rules.Unsupported`, a 400 in the client's format)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.core.errors import BadRequest
from services.proxy.door import admit
from services.proxy.translate import estimate_input_tokens, translate_request
from services.proxy.translate.rules import Unsupported
from tests.unit.proxy.translate import request_strategies as bodies

TARGETS = ["openai", "responses", "anthropic", "gemini"]
# door endpoint -> (translator format, valid bodies)
ENDPOINTS = {
    "chat": ("openai", bodies.chat("m")),
    "responses": ("responses", bodies.responses("m")),
    "messages": ("anthropic", bodies.messages("m")),
    "generate": ("gemini", bodies.generate()),
}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@PROPERTY
@given(data=st.data())
def test_admitted_bodies_translate_to_every_format(endpoint, data):
    fmt, valid = ENDPOINTS[endpoint]
    body = data.draw(st.one_of(valid, bodies.mutated(valid)))
    try:
        admitted = admit(json.dumps(body).encode(), endpoint, 64)  # type: ignore[arg-type]
    except BadRequest:
        return
    estimate_input_tokens(admitted, fmt)  # type: ignore[arg-type]
    for target in TARGETS:
        try:
            out = translate_request(admitted, source=fmt, target=target, model="m", stream=False)  # type: ignore[arg-type]
        except Unsupported:  # the target's rules refuse it (a 400), e.g. an unanswered tool call
            continue
        orjson.dumps(out)


# Found by the properties above or by hand; each was a 500 before.
FOUND = [
    (
        "messages",
        "anthropic",
        {
            "messages": [
                {"role": "system", "content": [{"type": "new_block", "text": 5}]},
                {"role": "user", "content": "hi"},
            ]
        },
    ),
]


@pytest.mark.parametrize(("endpoint", "fmt", "body"), FOUND)
def test_found_cases_translate(endpoint, fmt, body):
    admitted = admit(json.dumps(body).encode(), endpoint, 64)
    for target in TARGETS:
        translate_request(admitted, source=fmt, target=target, model="m", stream=False)
