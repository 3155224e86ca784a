"""A small fuzz over the OpenAPI schema: every operation, random ids, query values and JSON bodies -> never a 5xx."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_helpers import LiveServer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=15,
)
FIELDS = ["item_id", "kind", "value", "text", "events", "history", "k", "pin", "mute", "unpin", "unmute",
          "interests", "remove_interests", "items", "title", "categories", "diversity", "timestamp"]  # fmt: skip
# Bodies that are close to valid: known field names with arbitrary values, plus real ids and kinds.
near_valid = st.dictionaries(
    st.sampled_from(FIELDS),
    json_values | st.sampled_from(["jazz-001", "space-002", "like", "rate", "review", "jazz", "u000"]),
    max_size=5,
)
ids = st.sampled_from(["u000", "u001", "jazz-001", "nobody"]) | st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20
)


def operations(server: LiveServer) -> list[tuple[str, str, dict[str, Any]]]:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
    return [(m.upper(), path, op) for path, ops in spec["paths"].items() for m, op in ops.items()]


def test_no_operation_answers_random_input_with_a_server_error(server: LiveServer) -> None:
    ops = operations(server)
    assert len(ops) >= 9
    client = server.client()

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        op=st.sampled_from(ops),
        path_id=ids,
        query=st.dictionaries(st.sampled_from(["k", "diversity", "explain"]), st.text(max_size=6), max_size=3),
        body=near_valid | json_values,
    )
    def fuzz(op: tuple[str, str, dict[str, Any]], path_id: str, query: dict[str, str], body: Any) -> None:
        method, template, _ = op
        path = re.sub(r"\{[a-z_]+\}", quote(path_id, safe=""), template)
        kwargs: dict[str, Any] = {"params": query}
        if method in ("POST", "PATCH", "PUT"):
            kwargs["json"] = body
        r = client.request(method, path, **kwargs)
        assert r.status_code < 500, (method, path, query, body, r.status_code, r.text)
        if r.status_code >= 400:
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]

    try:
        fuzz()
    finally:
        client.close()
