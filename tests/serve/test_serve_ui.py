"""The profile page end to end in headless Chromium: bubbles drawn, like and mute/pin call the API and redraw."""

from __future__ import annotations

import shutil
from pathlib import Path

from serve_helpers import ARTIFACTS_OUT, KEY, WebDriver, live

from interestlm.serve import ServeSettings, create_app

READY = "return document.body.dataset.ready === arguments[0]"
ITEM_IDS = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.dataset.itemId)"



def test_profile_page_draws_interests_and_its_controls_change_the_profile(
    browser: WebDriver, artifacts: Path, tmp_path: Path, single_topic_users: dict[str, str]
) -> None:
    user, own = sorted(single_topic_users.items())[5]
    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path / "ui.sqlite3", synchronous="NORMAL")
    with live(create_app(artifacts, settings=settings)) as server, server.client() as api:
        browser.get(f"{server.url}/ui/users/{user}#key={KEY}")
        browser.wait(READY, "1")
        assert browser.script("return location.hash") == "", "the key is taken out of the address"
        assert browser.text(browser.find("#user-id")) == user
        bubbles = browser.find_all("#bubbles .interest-bubble")
        assert bubbles and own in browser.text(bubbles[0]).lower()
        assert browser.find_all("#bubbles .concept-bubble")
        assert len(browser.find_all("#recommendations li")) == 10
        assert browser.text(browser.find("#recommendations li .why")).strip()

        # Like the top recommendation: it moves to the likes and out of the recommendations.
        first = browser.script(ITEM_IDS, "#recommendations li")[0]
        browser.click(browser.find("#recommendations li button[data-action=like]"))
        browser.wait(READY, "2")
        assert first in browser.script(ITEM_IDS, "#likes li")
        assert first not in browser.script(ITEM_IDS, "#recommendations li")
        assert first in {x["item_id"] for x in api.get(f"/v1/users/{user}/profile").json()["likes"]}

        # Mute the user's own topic: none of its items stays recommended.
        browser.click(browser.find(f'#concepts li[data-concept="{own}"] button[data-action=mute]'))
        browser.wait(READY, "3")
        assert own in api.get(f"/v1/users/{user}/profile").json()["edits"]["muted"]
        shown = browser.script(ITEM_IDS, "#recommendations li")
        assert shown and not any(i.startswith(own + "-") for i in shown)
        assert browser.find_all(f'#edits li[data-concept="{own}"] button[data-action=unmute]')

        # Pin a concept to explore, then save what the page looks like.
        pin = browser.find_all("#explore li button[data-action=pin]") or browser.find_all(
            "#concepts li button[data-action=pin]"
        )
        browser.click(pin[0])
        browser.wait(READY, "4")
        pinned = api.get(f"/v1/users/{user}/profile").json()["edits"]["pinned"]
        assert len(pinned) == 1 and browser.find_all("#edits li.pinned")
        assert "error" not in browser.script("return document.getElementById('status').className")
        browser.script("window.scrollTo(0, 0)")
        shot = browser.screenshot(tmp_path / "ui-user.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    ARTIFACTS_OUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS_OUT / "ui-user.png")


def test_unknown_user_page_is_404_and_headers_lock_the_page_down(artifacts: Path, tmp_path: Path) -> None:
    # With public reads the page may say who exists (with keys, see test_user_scoped_keys...: it does not).
    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path / "h.sqlite3", public_reads=True)
    with live(create_app(artifacts, settings=settings)) as server, server.client(key=None) as c:
        assert c.get("/ui/users/nobody-here").status_code == 404
        page = c.get("/ui/users/u000")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/ui/static/app.js").status_code == 200
        assert "innerHTML" not in c.get("/ui/static/app.js").text  # data goes in as text, never as markup


OPERATIONS = "document.querySelectorAll('.opblock').length"
FOREIGN = "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(arguments[0]))"


def test_api_docs_render_offline_from_the_apps_own_assets(
    browser: WebDriver, artifacts: Path, tmp_path: Path
) -> None:
    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path / "docs.sqlite3")
    with live(create_app(artifacts, settings=settings)) as server, server.client(key=None) as c:
        page = c.get("/docs").text
        assert "cdn" not in page.lower() and "/docs-assets/swagger-ui-bundle.js" in page
        assert c.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        browser.get(f"{server.url}/docs")
        # Swagger UI draws one block per operation from /openapi.json.
        n_operations = browser.wait(f"return {OPERATIONS} >= 8 && {OPERATIONS}")
        assert n_operations >= 8
        assert "/v1/users/{user_id}/recommendations" in browser.script("return document.body.innerText")
        assert browser.script(FOREIGN, server.url) == []
        # ReDoc is not offered: its bundle fetches a logo from a CDN.
        assert c.get("/redoc").status_code == 404
