"""Usage blocks of each format <-> the normalised Usage (docstring of usage.py)."""

from __future__ import annotations

import pytest

from services.proxy.translate import usage as u
from services.proxy.translate.usage import Usage


def test_openai_block():
    block = {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 30},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    assert u.from_openai(block) == Usage(100, 40, 12, 30, 30, 0, 140)


def test_responses_block():
    block = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 30},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 12},
    }
    assert u.from_responses(block) == Usage(100, 40, 12, 30, 30, 0, 140)


def test_anthropic_input_excludes_cache():
    """Anthropic's input_tokens leaves out cache reads and writes; ours includes them."""
    block = {
        "input_tokens": 10,
        "cache_read_input_tokens": 200,
        "cache_creation_input_tokens": 50,
        "output_tokens": 7,
    }
    assert u.from_anthropic(block) == Usage(260, 7, 0, 200, 200, 50, 267)
    assert u.to_anthropic(u.from_anthropic(block)) == block


def test_anthropic_message_delta_keeps_earlier_fields():
    """message_delta usually carries only output_tokens: input and cache come from message_start."""
    start = u.from_anthropic({"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1})
    final = u.from_anthropic({"output_tokens": 42}, start)
    assert (final.input_tokens, final.cached_tokens, final.output_tokens) == (15, 5, 42)
    again = u.from_anthropic({"input_tokens": 12, "output_tokens": 43}, final)
    assert (again.input_tokens, again.cached_tokens) == (17, 5)


def test_gemini_thoughts_count_as_output():
    block = {
        "promptTokenCount": 100,
        "candidatesTokenCount": 30,
        "thoughtsTokenCount": 10,
        "cachedContentTokenCount": 20,
        "totalTokenCount": 140,
    }
    assert u.from_gemini(block) == Usage(100, 40, 10, 20, 20, 0, 140)
    assert u.to_gemini(u.from_gemini(block)) == block


@pytest.mark.parametrize("fmt", ["openai", "responses", "gemini"])
def test_round_trip(fmt):
    usage = Usage(120, 45, 9, 33, 33, 0, 165)
    write = getattr(u, f"to_{fmt}")
    read = getattr(u, f"from_{fmt}")
    assert read(write(usage)) == usage


def test_garbage_values_count_as_zero():
    assert u.from_openai({"prompt_tokens": "12", "completion_tokens": -3}) == Usage()
