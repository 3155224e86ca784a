"""GET /v1/users/{user_id}/predictions through a real server on loopback (planted topics)."""

from __future__ import annotations

from serve_helpers import LiveServer

from interestlm.core.tables import Dataset


def test_predictions_for_a_known_user(server: LiveServer, planted: Dataset) -> None:
    user = str(planted.interactions.user_ids[0])
    items = [str(i) for i in planted.catalog.item_ids[:3].tolist()]
    with server.client() as c:
        resp = c.get(f"/v1/users/{user}/predictions", params=[("item_id", i) for i in items])
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["user_id"] == user and [p["item_id"] for p in body["predictions"]] == items
        for p in body["predictions"]:
            assert 1.0 <= p["rating"] <= 5.0
            assert abs(sum(p["contributions"].values()) - p["rating"]) < 1e-3  # the shares sum to the rating
        assert "/v1/users/{user_id}/predictions" in c.get("/openapi.json").json()["paths"]


def test_prediction_errors(server: LiveServer, planted: Dataset) -> None:
    user = str(planted.interactions.user_ids[0])
    item = str(planted.catalog.item_ids[0])
    with server.client() as c:
        assert c.get("/v1/users/nobody/predictions", params={"item_id": item}).status_code == 404
        assert c.get(f"/v1/users/{user}/predictions", params={"item_id": "no-such-item"}).status_code == 404
        missing = c.get(f"/v1/users/{user}/predictions")
        assert missing.status_code == 422 and "detail" in missing.json()
