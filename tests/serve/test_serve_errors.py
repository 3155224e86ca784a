"""Typed errors over HTTP: client errors are 4xx with a clear message; anything else is a 500 that
names a request id and nothing internal. Handlers get the service through a FastAPI dependency,
so these tests hand them a service of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serve_helpers import KEY, live

from interestlm.core.errors import BadInputError, ConflictError
from interestlm.serve import ServeSettings, create_app
from interestlm.serve.routes import get_service


class Failing:
    """A stand-in service whose reads raise what the test asks for."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def profile(self, user_id: str) -> dict[str, Any]:
        raise self.error


@pytest.fixture(scope="module")
def app(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = ServeSettings(api_keys=(KEY,), store_path=tmp_path_factory.mktemp("err") / "s.sqlite3")
    return create_app(artifacts, settings=settings)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadInputError("that value breaks a rule"), 422),
        (ConflictError("the log belongs to other artifacts"), 409),
    ],
)
def test_library_errors_map_to_client_statuses(app: Any, error: Exception, status: int) -> None:
    app.dependency_overrides[get_service] = lambda: Failing(error)
    try:
        with live(app) as server, server.client() as c:
            r = c.get("/v1/users/anyone/profile")
        assert r.status_code == status and r.json()["detail"] == str(error)
        assert r.headers["x-request-id"]
    finally:
        app.dependency_overrides.clear()


@pytest.mark.parametrize("error", [ValueError("internal invariant: rows 3 != 4"), KeyError("secret_column")])
def test_anything_else_is_a_500_with_a_request_id_and_no_internal_text(
    app: Any, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    app.dependency_overrides[get_service] = lambda: Failing(error)
    try:
        with live(app) as server, server.client() as c:
            r = c.get("/v1/users/anyone/profile")
    finally:
        app.dependency_overrides.clear()
    assert r.status_code == 500
    body = r.json()
    assert body["detail"] == "internal error" and body["request_id"] == r.headers["x-request-id"]
    assert "invariant" not in r.text and "secret" not in r.text
    # The log names the request id, so an operator can find the stack the client was not shown.
    assert any(body["request_id"] in rec.getMessage() for rec in caplog.records)


def test_every_response_carries_a_request_id(app: Any) -> None:
    with live(app) as server, server.client() as c:
        ids = {c.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
