"""The ``/v1`` routes. Handlers get the :class:`~interestlm.serve.service.Service` through a FastAPI
dependency (:func:`get_service`), so a test can hand them another one with
``app.dependency_overrides[get_service] = ...``. Handlers are plain ``def`` functions: the
recommender's numpy work runs in worker threads and never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from interestlm.serve.auth import ApiKeys
from interestlm.serve.schemas import (
    MAX_K,
    MAX_PREDICT_ITEMS,
    AnonymousRequest,
    ErrorOut,
    EventsIn,
    EventsOut,
    ItemsIn,
    ItemsOut,
    PredictionsOut,
    ProfileEditIn,
    RecommendationsOut,
    SimilarOut,
)
from interestlm.serve.service import Service
from interestlm.serve.settings import ServeSettings

UserId = Annotated[str, PathParam(min_length=1, max_length=256, description="user id (a string)")]
ItemId = Annotated[str, PathParam(min_length=1, max_length=256, description="item id (a string)")]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a request that breaks a documented rule"},
    401: {"model": ErrorOut, "description": "missing or invalid API key"},
    403: {"model": ErrorOut, "description": "writes are off: the server has no API keys configured"},
    404: {"model": ErrorOut, "description": "unknown user or item id"},
    409: {"model": ErrorOut, "description": "conflicts with the current state"},
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ErrorOut, "description": "invalid input (an unknown concept lists 'suggestions')"},
    500: {"model": ErrorOut, "description": "internal error: the body names a request_id, nothing internal"},
    503: {"model": ErrorOut, "description": "writes are off until restart (the event log could not be written)"},
}


def get_service(request: Request) -> Service:
    """The app's service (``app.state.service``); override it in tests through FastAPI's dependencies."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def router(keys: ApiKeys, settings: ServeSettings) -> APIRouter:
    """The ``/v1`` router: reads behind ``settings.read_auth``, writes behind an API key."""

    def require_key(request: Request) -> None:
        keys.check(request)

    def read_key(request: Request) -> None:
        if settings.read_auth:
            keys.check(request)

    read = [Depends(read_key)]
    write = [Depends(require_key)]
    v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

    @v1.get("/users/{user_id}/recommendations", response_model=RecommendationsOut, dependencies=read)
    def user_recommendations(
        service: ServiceDep,
        user_id: UserId,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="list length")] = 10,
        diversity: Annotated[float | None, Query(ge=0.0, le=1.0, description="MMR diversity")] = None,
        explain: Annotated[bool, Query(description="one-sentence explanations")] = True,
    ) -> Response:
        """Top-K items for a known user, with scores and explanations."""
        body = service.recommendations(user_id, k, diversity=diversity, explain=explain)
        return Response(content=body, media_type="application/json")

    @v1.post("/recommendations", response_model=RecommendationsOut, dependencies=read)
    def anonymous_recommendations(service: ServiceDep, body: AnonymousRequest) -> dict[str, Any]:
        """Top-K for an anonymous or new user from an inline history and/or a free-text taste description."""
        return service.anonymous(body)

    @v1.get("/users/{user_id}/profile", dependencies=read)
    def get_profile(service: ServiceDep, user_id: UserId) -> dict[str, Any]:
        """The layered profile: interests, likes/dislikes, short-term, concepts, explore, summary, edits."""
        return service.profile(user_id)

    @v1.patch("/users/{user_id}/profile", dependencies=write)
    def patch_profile(service: ServiceDep, user_id: UserId, body: ProfileEditIn) -> dict[str, Any]:
        """Pin / mute concepts, reweight or remove interests; the next recommendations obey. Returns the profile."""
        return service.edit(user_id, body)

    @v1.post("/users/{user_id}/events", response_model=EventsOut, dependencies=write)
    def post_events(service: ServiceDep, user_id: UserId, body: EventsIn) -> dict[str, Any]:
        """Feedback, one event or ``{"events": [...]}``; durable and reflected on return (new ids start a profile)."""
        return service.add_events(user_id, body.events)

    @v1.post("/items", response_model=ItemsOut, dependencies=write)
    def post_items(service: ServiceDep, body: ItemsIn) -> dict[str, Any]:
        """Add or update items; they are encoded, indexed and recommendable on return."""
        return service.upsert_items(body.items)

    @v1.get("/items/{item_id}/similar", response_model=SimilarOut, dependencies=read)
    def similar_items(
        service: ServiceDep, item_id: ItemId, k: Annotated[int, Query(ge=1, le=MAX_K, description="list length")] = 10
    ) -> dict[str, Any]:
        """The items nearest to ``item_id``."""
        return service.similar(item_id, k)

    # -- rating predictions (issue 26)
    @v1.get("/users/{user_id}/predictions", response_model=PredictionsOut, dependencies=read)
    def user_predictions(
        service: ServiceDep,
        user_id: UserId,
        item_id: Annotated[
            list[str],
            Query(min_length=1, max_length=MAX_PREDICT_ITEMS, description="item ids (repeat: ?item_id=A&item_id=B)"),
        ],
    ) -> dict[str, Any]:
        """Predicted ratings (on the training scale) of the named items for a known user, with the
        shares each splits into."""
        return service.predictions(user_id, item_id)

    # -- end rating predictions
    return v1
