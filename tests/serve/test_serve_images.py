"""Pictures over HTTP: served from the artifacts, uploaded with items (and replayed), shown on the page."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image
from serve_helpers import KEY, WebDriver, live

from interestlm.config import RecommenderConfig
from interestlm.data.images import attach_images
from interestlm.recommender import Recommender
from interestlm.serve import ServeSettings, create_app
from interestlm.testing.genres import planted_genres
from interestlm.testing.pictures import COLOURS, draw, poster_folder


@pytest.fixture(scope="module")
def picture_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dataset = planted_genres()
    dataset, _ = attach_images(dataset, poster_folder(dataset, tmp_path_factory.mktemp("posters")))
    config = RecommenderConfig(encoder="hashing", image_encoder="pixels", rating_model=False)
    out = tmp_path_factory.mktemp("art") / "pictures"
    Recommender(config).fit(dataset).save(out)
    return out


def _settings(store: Path) -> ServeSettings:
    return ServeSettings(api_keys=(KEY,), store_path=store, synchronous="NORMAL")


def test_pictures_are_served_listed_uploaded_and_replayed(picture_artifacts: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    with live(create_app(picture_artifacts, settings=_settings(store))) as server, server.client() as api:
        res = api.get("/v1/items/0-0/image")
        assert res.status_code == 200 and res.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(res.content)).size[0] <= 240
        assert api.get("/v1/items/0-2/image").status_code == 404  # one film in three has no picture
        assert api.get("/v1/items/0-1/image").status_code == 404  # its file was corrupt
        assert api.get("/v1/items/nope/image").status_code == 404
        with server.client(key=None) as anonymous:
            assert anonymous.get("/v1/items/0-0/image").status_code == 401
        recs = api.get("/v1/users/u0-0/recommendations", params={"k": 20}).json()["recommendations"]
        images = {r["item_id"]: r["image"] for r in recs}
        assert any(v is not None for v in images.values()) and any(v is None for v in images.values())
        for item_id, path in images.items():
            if path is not None:
                assert path == f"/v1/items/{item_id}/image" and api.get(path).status_code == 200

        picture = draw(COLOURS[0], 4242)
        item = {"item_id": "new-red", "title": "Untitled", "image_base64": base64.b64encode(picture).decode()}
        assert api.post("/v1/items", json={"items": [item]}).status_code == 200
        assert api.get("/v1/items/new-red/image").content == picture
        bad = api.post("/v1/items", json={"items": [{**item, "item_id": "x1", "image_base64": "@@not base64"}]})
        assert bad.status_code == 422 and "base64" in bad.text
        text = base64.b64encode(b"just some text").decode()
        bad = api.post("/v1/items", json={"items": [{**item, "item_id": "x2", "image_base64": text}]})
        assert bad.status_code == 422 and "JPEG" in bad.text
        assert api.get("/v1/items/x1/image").status_code == 404

    # A restart replays the logged item with its picture.
    with live(create_app(picture_artifacts, settings=_settings(store))) as server, server.client() as api:
        assert api.get("/v1/items/new-red/image").content == picture



def test_the_page_shows_the_pictures_of_recommended_items(
    browser: WebDriver, picture_artifacts: Path, tmp_path: Path
) -> None:
    with live(create_app(picture_artifacts, settings=_settings(tmp_path / "ui.sqlite3"))) as server:
        browser.get(f"{server.url}/ui/users/u0-0#key={KEY}")
        browser.wait("return document.body.dataset.ready === arguments[0]", "1")
        shown = browser.wait(
            "const imgs = Array.from(document.querySelectorAll('#recommendations img.poster'));"
            "return imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:'))"
            " ? imgs.length : null"
        )
        assert shown >= 1
