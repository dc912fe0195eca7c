"""reasoning_effort in usage events: from the model suffix or each format's native field."""

from __future__ import annotations

import pytest

from services.proxy.routing.codec_contract import Call
from services.proxy.translate import parse_model_suffix
from services.proxy.usage.recorder import reasoning_effort


def _call(body: dict, suffix_model: str | None = None) -> Call:
    extra: dict = {}
    if suffix_model is not None:
        extra["thinking"] = parse_model_suffix(suffix_model)[1]
    return Call(None, None, "openai", "", "m", body, False, "", "", extra=extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "suffix", "expected"),
    [
        ({"reasoning_effort": "high"}, None, "high"),
        ({"reasoning": {"effort": "low"}}, None, "low"),
        ({"output_config": {"effort": "medium"}}, None, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, None, "4096"),
        ({"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}, None, "1024"),
        ({"generationConfig": {"thinkingConfig": {"thinkingLevel": "high"}}}, None, "high"),
        ({"reasoning_effort": "low"}, "m(8192)", "8192"),
        ({}, "m(high)", "high"),
        ({}, "m(none)", "none"),
        ({}, None, ""),
    ],
)
def test_reasoning_effort_sources(body, suffix, expected):
    """The suffix wins; otherwise the first native field present names the effort."""
    assert reasoning_effort(_call(body, suffix)) == expected
