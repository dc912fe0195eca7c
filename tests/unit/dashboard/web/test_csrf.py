"""CSRF origin rule: which unsafe requests are refused."""

from __future__ import annotations

import pytest

from services.dashboard.web.csrf import check_origin, origin_of, request_source

ALLOWED = {"http://127.0.0.1:3000", "https://dash.example.com"}


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Dash.Example.com:443/x?y", "https://dash.example.com"),
        ("http://127.0.0.1:3000/dashboard", "http://127.0.0.1:3000"),
        ("http://[::1]:3000/", "http://[::1]:3000"),
        ("javascript:alert(1)", None),
        ("not a url", None),
    ],
)
def test_origin_is_canonical(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_safe_methods_always_pass() -> None:
    assert check_origin("GET", None, ALLOWED, cookie_authenticated=True) is None


def test_cookie_request_without_origin_or_referer_is_refused() -> None:
    assert check_origin("POST", None, ALLOWED, cookie_authenticated=True) == "missing Origin header"


def test_foreign_origin_is_refused_even_without_cookie() -> None:
    source = request_source("https://evil.example", None)
    assert check_origin("POST", source, ALLOWED, cookie_authenticated=False)
    assert check_origin("DELETE", source, ALLOWED, cookie_authenticated=True)


def test_matching_origin_or_referer_passes() -> None:
    assert (
        check_origin(
            "POST",
            request_source("http://127.0.0.1:3000", None),
            ALLOWED,
            cookie_authenticated=True,
        )
        is None
    )
    source = request_source(None, "https://dash.example.com/dashboard/api-keys")
    assert check_origin("PUT", source, ALLOWED, cookie_authenticated=True) is None


def test_null_origin_is_refused() -> None:
    assert check_origin("POST", request_source("null", None), ALLOWED, cookie_authenticated=True)


def test_scriptless_login_without_headers_passes() -> None:
    assert check_origin("POST", None, ALLOWED, cookie_authenticated=False) is None
