"""The usage, pricing and overview pages as HTML: what each viewer sees, forms, partials."""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest

from tests.integration.usage.conftest import Seeded

pytestmark = pytest.mark.usefixtures("seeded")


def _chart_data(html: str) -> dict:
    found = re.search(r"<div id=\"usage-data\" hidden data-chart='([^']*)'>", html)
    assert found
    return json.loads(html_lib.unescape(found.group(1)))


def test_admin_usage_page(users, seeded: Seeded) -> None:
    page = users["admin"].get("/dashboard/usage?window=30d&tz=Europe/Paris")
    assert page.status_code == 200, page.text
    html = page.text
    for text in ("alice-laptop", "bob-main", "Collect now", "mystery-model", "no price", "Users",
                 "Europe/Paris", "Older requests"):  # fmt: skip
        assert text in html, text
    data = _chart_data(html)
    assert data["bucket"] == "day" and len(data["series"]) == 30
    assert "<script>" not in html  # the CSP forbids inline scripts


def test_user_usage_page_shows_only_their_own(users, seeded: Seeded) -> None:
    html = users["bob"].get("/dashboard/usage?window=30d").text
    assert "bob-main" in html
    for other in ("alice-laptop", "alice-ci", "admin-key", "Collect now", ">alice<"):
        assert other not in html, other
    data = _chart_data(html)
    assert {k["label"] for k in data["keys"]} <= {"bob-main"}


def test_time_zone_comes_from_the_query_then_the_cookie(users) -> None:
    admin = users["admin"]
    assert 'data-tz-source="default"' in admin.get("/dashboard/usage").text
    admin.cookies["tz"] = "Asia/Tokyo"
    try:
        html = admin.get("/dashboard/usage").text
        assert 'data-tz-source="cookie"' in html and 'data-tz="Asia/Tokyo"' in html
        assert 'data-tz="UTC"' in admin.get("/dashboard/usage?tz=UTC").text
        admin.cookies["tz"] = "../bad"
        assert 'data-tz="UTC"' in admin.get("/dashboard/usage").text
    finally:
        admin.cookies.pop("tz", None)


def test_invalid_window_on_the_page_is_an_error_page(users) -> None:
    page = users["admin"].get("/dashboard/usage?window=5y")
    assert page.status_code == 400 and "window" in page.text


def test_filter_links_and_older_events_partial(users, seeded: Seeded) -> None:
    admin = users["admin"]
    html = admin.get("/dashboard/usage?window=30d").text
    assert "model=gpt-5.4" in html.replace("&amp;", "&")
    more = re.search(r'hx-get="(/dashboard/usage/events[^"]+)"', html)
    assert more
    partial = admin.get(more.group(1).replace("&amp;", "&"))
    assert partial.status_code == 200
    assert partial.text.count("<tr") >= 10 and "<html" not in partial.text


def test_collect_form_redirects_with_a_message(users) -> None:
    response = users["admin"].post("/dashboard/usage/collect")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/usage"
    assert users["alice"].post("/dashboard/usage/collect").status_code in (303, 403)


def test_overview_has_the_usage_card(users) -> None:
    html = users["alice"].get("/dashboard").text
    assert "Usage, last 7 days" in html
    assert html.count('class="spark') == 4
    assert re.search(r'<polyline points="[0-9., ]+"', html)


def test_pricing_pages(users) -> None:
    admin = users["admin"]
    html = admin.get("/dashboard/pricing").text
    assert "claude-sonnet-5-5" in html and "in force" in html and "scheduled" in html
    form = {"provider": "acme", "model": "page-model", "inputPerMTok": "1", "outputPerMTok": "2",
            "cachedInputPerMTok": "", "cacheWritePerMTok": "", "reasoningPerMTok": "",
            "effectiveFrom": "", "displayName": ""}  # fmt: skip
    created = admin.post("/dashboard/pricing", data=form)
    assert created.status_code == 303
    html = admin.get("/dashboard/pricing").text
    assert "page-model" in html and "Price for acme/page-model added." in html
    price_id = int(
        re.search(
            r'/dashboard/pricing/(\d+)">Edit</a>', html.split("<code>page-model</code>")[1]
        ).group(1)
    )
    bad = admin.post(f"/dashboard/pricing/{price_id}", data={**form, "outputPerMTok": "-3"})
    assert bad.status_code == 303 and bad.headers["location"] == f"/dashboard/pricing/{price_id}"
    assert admin.get(f"/dashboard/pricing/{price_id}").status_code == 200
    saved = admin.post(f"/dashboard/pricing/{price_id}", data={**form, "outputPerMTok": "3"})
    assert saved.status_code == 303
    assert admin.post(f"/dashboard/pricing/{price_id}/delete").status_code == 303
    assert "<code>page-model</code>" not in admin.get("/dashboard/pricing").text
    assert users["alice"].get("/dashboard/pricing").status_code == 403
