"""Property tests: whatever valid request a client sends, in any of the four formats, the body
forwarded to any upstream kind passes that provider's own rules (tests/fakes/provider_rules,
the rules the fake upstreams enforce), or the proxy refuses it with one of the documented 400s.
"""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.proxy.translate import formats, rules, translate_request
from services.proxy.translate.rules import Unsupported
from tests.fakes.provider_rules import problems
from tests.unit.proxy.translate.ir_strategies import MODELS, requests

FORMATS = ["openai", "responses", "anthropic", "gemini"]
PAIRS = [(s, t) for s in FORMATS for t in FORMATS if s != t]  # same format: relayed as sent
SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much]
# The refusals docs/translation.md lists: media the target cannot take, an empty conversation.
DOCUMENTED = re.compile(
    r"does not accept .* attachments|can only be read by a Gemini upstream"
    r"|is not an http\(s\) URL|no message content the upstream can take"
)


def _write(req, target, model, stream):
    """What a writer of `target` sends for `req`: conform, then write."""
    rules.conform(req, target, model)
    return formats.codec(target).write_request(req, model, stream)


@pytest.mark.parametrize("target", FORMATS)
@settings(max_examples=80, deadline=None, suppress_health_check=SLOW_OK)
@given(req=requests(), model=st.sampled_from(MODELS), stream=st.booleans())
def test_every_written_body_is_accepted_by_its_provider(target, req, model, stream):
    """Any valid IR request, written for any target, is accepted by that provider."""
    try:
        body = _write(req, target, model, stream)
    except Unsupported as exc:
        assert DOCUMENTED.search(exc.message), exc.message
        return
    assert problems(target, body, model) == []


@pytest.mark.parametrize(("source", "target"), PAIRS)
@settings(max_examples=30, deadline=None, suppress_health_check=SLOW_OK)
@given(req=requests(), model=st.sampled_from(MODELS), stream=st.booleans())
def test_client_bodies_translate_into_accepted_bodies(source, target, req, model, stream):
    """A valid client body of any format, translated for any upstream kind, is accepted there."""
    try:
        client = _write(copy.deepcopy(req), source, model, stream)
    except Unsupported:
        assume(False)  # not a body that client format can carry
    assert problems(source, client, model) == []  # the generated client body is valid
    try:
        out = translate_request(client, source=source, target=target, model=model, stream=stream)
    except Unsupported as exc:
        assert DOCUMENTED.search(exc.message), exc.message
        return
    assert problems(target, out, model) == []
