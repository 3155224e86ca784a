"""The recommendation cache: never serves a list older than the last write that could change it."""

from __future__ import annotations

import re

import pytest
from serve_helpers import LiveServer

from interestlm.serve.concurrency import RecommendationCache


def test_a_cached_list_is_served_until_its_user_or_the_catalogue_changes() -> None:
    cache = RecommendationCache(10)
    key = ("u1", 10, None, True)
    other = ("u2", 10, None, True)
    assert cache.get(key) is None
    cache.put(key, cache.generations("u1"), b"1")
    cache.put(other, cache.generations("u2"), b"2")
    assert cache.get(key) == b"1" and cache.hits == 1
    cache.user_changed("u1")
    assert cache.get(key) is None, "an event or edit of u1 invalidates u1's lists"
    assert cache.get(other) == b"2", "... and only u1's"
    cache.catalog_changed()
    assert cache.get(other) is None, "new items invalidate every list"
    assert cache.misses == 3


def test_a_list_computed_before_a_write_is_not_stored_after_it() -> None:
    cache = RecommendationCache(10)
    key = ("u1", 5, 0.2, False)
    before = cache.generations("u1")
    cache.user_changed("u1")  # a write lands while the (old) list is being computed
    cache.put(key, before, b"stale")
    assert cache.get(key) is None and len(cache) == 0
    cache.put(key, cache.generations("u1"), b"fresh")
    assert cache.get(key) == b"fresh"


def test_the_cache_is_bounded_least_recently_used_first_and_can_be_off() -> None:
    cache = RecommendationCache(2)
    keys = [(f"u{i}", 10, None, True) for i in range(3)]
    cache.put(keys[0], cache.generations("u0"), b"0")
    cache.put(keys[1], cache.generations("u1"), b"1")
    assert cache.get(keys[0]) == b"0"  # u0 is now the most recently used
    cache.put(keys[2], cache.generations("u2"), b"2")
    assert len(cache) == 2 and cache.get(keys[1]) is None and cache.get(keys[0]) == b"0"
    off = RecommendationCache(0)
    off.put(keys[0], off.generations("u0"), b"0")
    assert off.get(keys[0]) is None
    with pytest.raises(ValueError, match="max_entries"):
        RecommendationCache(-1)


def _gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def test_repeated_reads_hit_the_cache_and_an_edit_still_shows_at_once(server: LiveServer) -> None:
    user = "u-cache"
    with server.client() as c:
        assert c.post(f"/v1/users/{user}/events", json={"item_id": "jazz-001", "kind": "like"}).status_code == 200
        url = f"/v1/users/{user}/recommendations"
        first = c.get(url, params={"k": 5}).json()
        hits = _gauge(c.get("/metrics").text, "interestlm_cache_hits")
        again = c.get(url, params={"k": 5}).json()
        assert again == first
        assert _gauge(c.get("/metrics").text, "interestlm_cache_hits") == hits + 1
        # The planted topic of the top item is one of its concepts (its category).
        muted = first["recommendations"][0]["item_id"].split("-")[0]
        r = c.patch(f"/v1/users/{user}/profile", json={"mute": [muted]})
        assert r.status_code == 200, r.text
        after = c.get(url, params={"k": 5}).json()["recommendations"]
        assert first["recommendations"][0]["item_id"] not in {x["item_id"] for x in after}


def test_the_cache_is_bounded_in_bytes_and_diversity_is_quantised() -> None:
    from interestlm.serve.concurrency import quantise_diversity

    cache = RecommendationCache(1000, max_bytes=3000)
    for i in range(10):
        cache.put((f"u{i}", 10, None, True), cache.generations(f"u{i}"), b"x" * 1000)
    assert cache.bytes <= 3000 and len(cache) == 2, "each entry costs its payload plus ~200 bytes of key"
    assert cache.get(("u9", 10, None, True)) is not None and cache.get(("u0", 10, None, True)) is None
    cache.put(("big", 10, None, True), cache.generations("big"), b"x" * 5000)
    assert cache.get(("big", 10, None, True)) is None, "a payload larger than the whole budget is not kept"
    # 255 distinct floats (the probe's 23 MiB) fall on at most 101 keys
    keys = {quantise_diversity(i / 254) for i in range(255)}
    assert len(keys) == 101 and quantise_diversity(None) is None and quantise_diversity(0.123456) == 0.12


def test_an_item_upload_refreshes_cached_lists_before_the_swap(server: LiveServer) -> None:
    user = "u-refresh"
    with server.client() as c:
        assert c.post(f"/v1/users/{user}/events", json={"item_id": "jazz-002", "kind": "like"}).status_code == 200
        url = f"/v1/users/{user}/recommendations"
        c.get(url, params={"k": 5})
        item = {"item_id": "jazz-new-refresh", "title": "Jazz saxophone quartet", "text": "jazz saxophone swing"}
        assert c.post("/v1/items", json={"items": [item]}).status_code == 200
        hits = _gauge(c.get("/metrics").text, "interestlm_cache_hits")
        refreshed = c.get(url, params={"k": 5}).json()
        assert _gauge(c.get("/metrics").text, "interestlm_cache_hits") == hits + 1, "served from the refreshed cache"
        # The same list computed now (another cache key: diversity 0 is the configured default).
        computed = c.get(url, params={"k": 5, "diversity": 0.0}).json()
        # Equal but for float32 rounding (the BLAS may sum in another order on another thread).
        for a, b in zip(refreshed["recommendations"], computed["recommendations"], strict=True):
            assert {**a, "score": 0, "contributions": 0} == {**b, "score": 0, "contributions": 0}
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_recent_keys_and_catalog_replaced_keep_only_the_fresh_lists() -> None:
    cache = RecommendationCache(10)
    for u in ("a", "b", "c"):
        cache.put((u, 10, None, True), cache.generations(u), u.encode())
    cache.get(("a", 10, None, True))
    assert cache.recent_keys(2) == [("a", 10, None, True), ("c", 10, None, True)]
    cache.catalog_replaced({("a", 10, None, True): b"A"})
    assert cache.get(("a", 10, None, True)) == b"A"
    assert cache.get(("b", 10, None, True)) is None and cache.get(("c", 10, None, True)) is None
