"""The ``/v1`` routes. Handlers get the :class:`~interestlm.serve.service.Service` through a FastAPI
dependency (:func:`get_service`), so a test can hand them another one with
``app.dependency_overrides[get_service] = ...``. Handlers are plain ``def`` functions: the
recommender's numpy work runs in worker threads and never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from interestlm.core.errors import UnknownIdError
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
    picture_type,
)
from interestlm.serve.service import Service
from interestlm.serve.settings import ServeSettings

UserId = Annotated[str, PathParam(min_length=1, max_length=256, description="user id (a string)")]
ItemId = Annotated[str, PathParam(min_length=1, max_length=256, description="item id (a string)")]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "a request that breaks a documented rule"},
    401: {"model": ErrorOut, "description": "missing or invalid API key"},
    403: {
        "model": ErrorOut,
        "description": "the key is scoped to another user (or needs admin), or the server has no API keys configured",
    },
    404: {"model": ErrorOut, "description": "unknown user or item id"},
    409: {"model": ErrorOut, "description": "conflicts with the current state"},
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ErrorOut, "description": "invalid input (an unknown concept lists 'suggestions')"},
    500: {"model": ErrorOut, "description": "internal error: the body names a request_id, nothing internal"},
    503: {
        "model": ErrorOut,
        "description": "at capacity (with Retry-After: try again), or writes are off until restart",
    },
}

T = TypeVar("T")

#: The status logged for a computed request whose client went away before it was answered.
CLIENT_CLOSED = 499


async def computed(request: Request, service: Service, work: Callable[[], T]) -> T | None:
    """Run ``work`` (a computed list) in a worker thread once the service admits it; None if the
    client disconnected first.

    Admission (``Service.admission``) bounds the lists computed at once and the queue before them,
    and refuses beyond it (503). While queued, a request whose client hangs up is dropped without
    computing; a list already being computed runs to the end (a thread cannot be interrupted) and
    frees its slot then.
    """
    result: list[T] = []
    failure: Exception | None = None
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch)
        try:
            async with service.admission.slot():
                result.append(await anyio.to_thread.run_sync(work))
        except Exception as exc:
            # Raised past the task group it would come out wrapped in an ExceptionGroup; the
            # error handlers (404, 422, 503 ...) need the exception itself.
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result[0] if result else None


def get_service(request: Request) -> Service:
    """The app's service (``app.state.service``); override it in tests through FastAPI's dependencies."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def router(keys: ApiKeys, settings: ServeSettings) -> APIRouter:
    """The ``/v1`` router. Reads need a key unless ``settings.public_reads``; writes always do. A
    user-scoped key acts on its own user only (plus the reads that concern no user); uploading
    items needs an admin key."""

    # async: a key check is microseconds, not worth a hop through the thread pool (under load that
    # hop queues behind the compute threads).
    async def read_user(request: Request, user_id: UserId) -> None:
        if not settings.public_reads:
            keys.authorize(request, user_id)

    async def read_catalogue(request: Request) -> None:
        if not settings.public_reads:
            keys.authorize(request)

    async def write_user(request: Request, user_id: UserId) -> None:
        keys.authorize(request, user_id)

    async def write_catalogue(request: Request) -> None:
        keys.authorize(request, admin=True)

    read = [Depends(read_user)]
    read_any = [Depends(read_catalogue)]
    write = [Depends(write_user)]
    write_items = [Depends(write_catalogue)]
    v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

    @v1.get("/users/{user_id}/recommendations", response_model=RecommendationsOut, dependencies=read)
    async def user_recommendations(
        request: Request,
        service: ServiceDep,
        user_id: UserId,
        k: Annotated[int, Query(ge=1, le=MAX_K, description="list length")] = 10,
        diversity: Annotated[float | None, Query(ge=0.0, le=1.0, description="MMR diversity (rounded to 0.01)")] = None,
        explain: Annotated[bool, Query(description="one-sentence explanations")] = True,
    ) -> Response:
        """Top-K items for a known user, with scores and explanations."""
        body = service.cached_recommendations(user_id, k, diversity=diversity, explain=explain)
        if body is None:
            body = await computed(
                request,
                service,
                lambda: service.recommendations(user_id, k, diversity=diversity, explain=explain),
            )
        if body is None:
            return Response(status_code=CLIENT_CLOSED)
        return Response(content=body, media_type="application/json")

    @v1.post("/recommendations", response_model=RecommendationsOut, dependencies=read_any)
    async def anonymous_recommendations(request: Request, service: ServiceDep, body: AnonymousRequest) -> Any:
        """Top-K for an anonymous or new user from an inline history and/or a free-text taste description."""
        out = await computed(request, service, lambda: service.anonymous(body))
        if out is None:
            return Response(status_code=CLIENT_CLOSED)
        return out

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

    @v1.post("/items", response_model=ItemsOut, dependencies=write_items)
    def post_items(service: ServiceDep, body: ItemsIn) -> dict[str, Any]:
        """Add or update items; they are encoded, indexed and recommendable on return."""
        return service.upsert_items(body.items)

    @v1.get(
        "/items/{item_id}/image",
        dependencies=read_any,
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
    )
    def item_image(service: ServiceDep, item_id: ItemId) -> Response:
        """The item's picture (a thumbnail kept with the artifacts, or the one uploaded); 404 without one."""
        data = service.picture(item_id)
        if data is None:
            raise UnknownIdError(f"item {item_id!r} has no picture")
        return Response(
            content=data,
            media_type=picture_type(data) or "application/octet-stream",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @v1.get("/items/{item_id}/similar", response_model=SimilarOut, dependencies=read_any)
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
