"""Proxy settings editor: validation, YAML preview, and merging into an operator's file."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from services.core.errors import ValidationFailed
from services.dashboard.proxies.config import ProxySettings, from_config, merge_into, parse, preview

OPERATOR_FILE = """\
# operator comment
port: 8317 # inline
custom-key: keep
routing:
  strategy: round-robin
"""


def test_merge_keeps_comments_and_unknown_keys() -> None:
    merged = merge_into(OPERATOR_FILE, parse({"routing.strategy": "fill-first"}))
    assert "# operator comment" in merged and "# inline" in merged and "custom-key: keep" in merged
    loaded = YAML(typ="safe").load(merged)
    assert loaded["routing"]["strategy"] == "fill-first"
    assert loaded["streaming"]["keepalive-seconds"] == 15


def test_preview_is_nested_yaml() -> None:
    text = preview(parse({"streaming.bootstrap-retries": 3}))
    assert YAML(typ="safe").load(text)["streaming"]["bootstrap-retries"] == 3


@pytest.mark.parametrize(
    "values",
    [
        {"routing.strategy": "random"},
        {"request-retry": 11},
        {"max-retry-interval": -1},
        {"request-body-limit-mb": 0},
        {"proxy-url": "ftp://x"},
        {"unknown": 1},
    ],
)
def test_invalid_values_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        parse(values)


def test_current_values_tolerate_odd_entries() -> None:
    current = from_config({"routing": {"strategy": "fill-first"}, "request-retry": "lots"})
    assert current == ProxySettings.model_validate({"routing.strategy": "fill-first"})
