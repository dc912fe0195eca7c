"""Auth file names: plain visible .json names only."""

from __future__ import annotations

import pytest

from services.core.errors import BadRequest, PayloadTooLarge
from services.proxy.management.auth_files import auth_file_index, parse_content, validate_name


@pytest.mark.parametrize(
    "name",
    ["claude-dev@example.com.json", "codex_1.json", "My Account.json", "x.JSON", "a+b=c,d.json"],
)
def test_valid_names(name):
    assert validate_name(f" {name} ") == name


@pytest.mark.parametrize(
    "name",
    [
        "../x.json",
        "..\\x.json",
        "a/b.json",
        "/etc/x.json",
        ".hidden.json",
        ".json",
        "x.json.txt",
        "x",
        "a..b.json",
        "nul\x00.json",
        "tab\t.json",
        "new\nline.json",
        "-" * 300 + ".json",
        "%2e%2e%2fx.json",
    ],
)
def test_refused_names(name):
    with pytest.raises(BadRequest):
        validate_name(name)


def test_content_must_be_a_bounded_json_object():
    assert parse_content(b'{"type": "claude"}', 100) == {"type": "claude"}
    for raw in (b"[]", b"1", b"{", b""):
        with pytest.raises(BadRequest):
            parse_content(raw, 100)
    with pytest.raises(PayloadTooLarge):
        parse_content(b'{"a": "' + b"x" * 200 + b'"}', 100)


def test_auth_index_is_stable_and_distinct():
    assert auth_file_index("claude", "a.json") == auth_file_index("claude", "a.json")
    assert len(auth_file_index("claude", "a.json")) == 16
    assert auth_file_index("claude", "a.json") != auth_file_index("codex", "a.json")
    assert auth_file_index("claude", "a.json") != auth_file_index("claude", "b.json")
