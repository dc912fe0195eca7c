"""Model pricing API: read for users, audited CRUD for admins, validation, soft delete."""

from __future__ import annotations

import psycopg
import pytest

PRICE = {
    "provider": "Acme",
    "model": "acme-large",
    "displayName": "Acme Large",
    "inputPerMTok": "1.25",
    "outputPerMTok": 10,
    "cachedInputPerMTok": "0.125",
    "effectiveFrom": "2026-01-01",
}


def test_users_read_the_active_prices(users) -> None:
    """The seed list is there for everyone; each model's current row is marked in force."""
    prices = users["alice"].get("/api/model-pricing").json()["data"]["prices"]
    sonnet = [p for p in prices if p["model"] == "claude-sonnet-5-5"]
    assert len(sonnet) == 2 and sum(p["inForce"] for p in sonnet) == 1
    current = next(p for p in sonnet if p["inForce"])
    assert current["cachedInputPerMTok"] == 0.1 and current["source"] == "seed"
    assert users["alice"].get("/api/admin/model-pricing").status_code == 403


def test_admin_crud_is_audited(users, usage_dsn) -> None:
    admin = users["admin"]
    created = admin.post("/api/admin/model-pricing", json=PRICE)
    assert created.status_code == 201, created.text
    price = created.json()["data"]
    assert price["provider"] == "acme" and price["inputPerMTok"] == 1.25
    assert price["effectiveFrom"].startswith("2026-01-01T00:00:00")
    again = admin.post("/api/admin/model-pricing", json=PRICE)
    assert again.status_code == 409 and again.json()["error"]["code"] == "price_exists"

    changed = admin.put(
        f"/api/admin/model-pricing/{price['id']}", json={**PRICE, "outputPerMTok": 12}
    )
    assert changed.status_code == 200 and changed.json()["data"]["outputPerMTok"] == 12

    assert admin.delete(f"/api/admin/model-pricing/{price['id']}").status_code == 200
    listed = admin.get("/api/admin/model-pricing").json()["data"]["prices"]
    assert next(p for p in listed if p["id"] == price["id"])["isActive"] is False
    active = users["alice"].get("/api/model-pricing").json()["data"]["prices"]
    assert all(p["id"] != price["id"] for p in active)
    assert admin.delete(f"/api/admin/model-pricing/{price['id']}").status_code == 404

    revived = admin.post("/api/admin/model-pricing", json={**PRICE, "inputPerMTok": 2})
    assert revived.status_code == 201 and revived.json()["data"]["id"] == price["id"]
    with psycopg.connect(usage_dsn) as conn:
        actions = [a for (a,) in conn.execute(
            "SELECT action FROM audit_log WHERE target_type = 'model_price' ORDER BY id"
        )]  # fmt: skip
    assert actions == ["MODEL_PRICE_CREATED", "MODEL_PRICE_UPDATED", "MODEL_PRICE_DELETED",
                       "MODEL_PRICE_CREATED"]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"inputPerMTok": "-1"}, "inputPerMTok"),
        ({"outputPerMTok": None}, "outputPerMTok"),
        ({"outputPerMTok": "abc"}, "outputPerMTok"),
        ({"cachedInputPerMTok": "0.0000001"}, "cachedInputPerMTok"),
        ({"reasoningPerMTok": "1e9"}, "reasoningPerMTok"),
        ({"provider": "a b"}, "provider"),
        ({"model": ""}, "model"),
        ({"model": "x\ny"}, "model"),
        ({"effectiveFrom": "next week"}, "effectiveFrom"),
    ],
)
def test_invalid_prices_are_400(users, change: dict, field: str) -> None:
    response = users["admin"].post("/api/admin/model-pricing", json={**PRICE, **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"][0]["field"] == field


def test_users_cannot_change_prices(users) -> None:
    response = users["alice"].post("/api/admin/model-pricing", json=PRICE)
    assert response.status_code == 403
    assert users["bob"].delete("/api/admin/model-pricing/1").status_code == 403


def test_unknown_price_is_404(users) -> None:
    assert users["admin"].put("/api/admin/model-pricing/999999", json=PRICE).status_code == 404
