"""config.yaml validation: defaults, unknown keys kept, errors naming key and line."""

from __future__ import annotations

import pytest

from services.proxy.config.loader import ConfigError, dump_document, parse_document, validate_text
from services.proxy.routing.runtime import key_digest


def test_defaults_for_an_empty_mapping():
    """`{}` is a valid config with the documented defaults."""
    config = validate_text("{}\n").config
    assert (config.host, config.port) == ("127.0.0.1", 8317)
    assert config.routing.strategy == "round-robin"
    assert config.body_limit_bytes == 32 * 1024 * 1024
    assert config.api_keys == []


@pytest.mark.parametrize("text", ["", "\n\n", "   \t\n", "# only a comment\n\n# another\n"])
def test_an_empty_file_is_not_a_config(text):
    """Zero bytes (a non-atomic write caught halfway), blanks or comments alone are refused."""
    with pytest.raises(ConfigError) as info:
        validate_text(text)
    assert info.value.code == "invalid_config"
    assert info.value.message.startswith("config.yaml is empty")


def test_unknown_keys_are_kept_and_warned():
    """Keys we do not understand survive and produce a warning naming them."""
    loaded = validate_text("port: 9000\ntls:\n  enable: false\nrouting:\n  mystery: 1\n")
    assert "unknown config key kept: tls" in loaded.warnings
    assert "unknown config key kept: routing.mystery" in loaded.warnings


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("port: 8317\nrequest-retry: many\n", "request-retry (line 2)"),
        ("routing:\n  strategy: random\n", "routing.strategy (line 2)"),
        (
            "openai-compatibility:\n  - name: x\n    base-url: http://h\n    priority: high\n",
            "openai-compatibility.0.priority (line 4)",
        ),
        ("port: [1\n", "not valid YAML"),
        ("- a\n- b\n", "mapping at the top level"),
    ],
)
def test_errors_name_the_key_and_line(text, needle):
    """A wrong type or bad YAML is an error whose message names the key and its line."""
    with pytest.raises(ConfigError) as info:
        validate_text(text)
    assert needle in info.value.message
    assert info.value.status == 422


def test_round_trip_keeps_comments_and_order():
    """Parsing then dumping a document keeps comments and key order."""
    text = "# gateway\nport: 8317  # main port\napi-keys:\n  - a  # first\nhost: 127.0.0.1\n"
    assert dump_document(parse_document(text)) == text


def test_api_key_entries_hash_or_digest():
    """Plaintext entries and sha256: entries stand for the same digest; junk is ignored."""
    plain = key_digest("sk-abc")
    assert plain is not None
    assert key_digest("sha256:" + plain.hex()) == plain
    assert key_digest("sha256:zz") is None
    assert key_digest("  ") is None
