"""Wire schemas of the ``/v1`` API (pydantic, strict: unknown fields and wrong types are 422).

Ids are strings on the wire; bodies are bounded (list lengths, text sizes) so one request
cannot make the server do unbounded work.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from interestlm.core.names import normalise_name

MAX_EVENTS = 1000
MAX_ITEMS = 1000
MAX_HISTORY = 1000
MAX_TEXT = 10_000
#: A picture sent with an item, base64-encoded (about 512 KB of file).
MAX_IMAGE_BASE64 = 700_000


def picture_type(data: bytes) -> str | None:
    """The media type of a picture's bytes by their signature (JPEG, PNG, WebP), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
MAX_K = 200
MAX_CONCEPTS = 100
#: Timestamps are seconds since the epoch up to 2100-01-01: a bound that keeps every later
#: conversion (int64 arrays, day arithmetic) exact, and catches milliseconds sent as seconds.
MAX_TIMESTAMP = 4_102_444_800
#: No feedback value of any scale is this large; the dataset's own rating scale is checked by the
#: service (it depends on the artifacts), this bound is the one the schema can state.
MAX_VALUE = 1_000_000.0

Id = StrictStr
#: A JSON number, never a string or a boolean (``"5"`` and ``true`` are not coerced).
Number = Annotated[float, Strict()]
EventKind = Literal["view", "click", "like", "dislike", "rate", "review"]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EventIn(BaseModel):
    """One piece of feedback: ``rate`` needs ``value``, ``review`` needs ``text``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    item_id: Id = Field(min_length=1, max_length=256)
    kind: EventKind
    value: Number | None = Field(
        default=None,
        ge=-MAX_VALUE,
        le=MAX_VALUE,
        description="the rating (rate, review); must lie on the rating scale of the fitted data",
    )
    text: StrictStr | None = Field(default=None, max_length=MAX_TEXT, description="the review text (review)")
    timestamp: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_TIMESTAMP,
        description="seconds since the epoch (up to 2100-01-01); default: the server's clock when the event is applied",
    )

    @model_validator(mode="after")
    def _needs(self) -> EventIn:
        if self.kind == "rate" and self.value is None:
            raise ValueError("a 'rate' event needs a numeric 'value'")
        if self.kind == "review" and not self.text:
            raise ValueError("a 'review' event needs a non-empty 'text'")
        return self


class EventsIn(BaseModel):
    """A batch ``{"events": [...]}``; a single event object is accepted too and read as a batch of one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"description": "Either one event object or {'events': [event, ...]}."},
    )

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, dict) and "events" not in data:
            return {"events": [data]}
        return data


class EventsOut(BaseModel):
    """What was accepted: the count, and the log position of the last one (durable on return)."""

    user_id: str
    accepted: int
    seq: int


class ItemRef(BaseModel):
    """An item as shown to people."""

    item_id: str
    title: str


class RecommendationOut(BaseModel):
    """One recommended item, its fused score and (with ``explain``) why."""

    item_id: str
    title: str
    score: float
    image: str | None = Field(
        default=None, description="path of the item's picture (GET it with the same key), null without one"
    )
    explanation: str | None = None
    explanation_source: str | None = Field(default=None, description="template, or kind:model of the LM that wrote it")
    reason: str | None = Field(default=None, description="the signal that carried most of the score")
    interest: str | None = None
    concepts: list[str] = Field(default_factory=list)
    evidence: list[ItemRef] = Field(default_factory=list)
    path: list[str] = Field(default_factory=list)
    pinned: list[str] = Field(default_factory=list, description="the user's pinned concepts the item carries")
    contributions: dict[str, float] = Field(
        default_factory=dict, description="each signal's share of the score (weight x value); they sum to it"
    )


class RecommendationsOut(BaseModel):
    """``{"user_id", "recommendations": [...]}`` (``user_id`` null for an anonymous request)."""

    user_id: str | None
    recommendations: list[RecommendationOut]


class AnonymousRequest(BaseModel):
    """Recommendations for someone without a stored profile: an inline history and/or a taste text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    history: list[Id] = Field(default_factory=list, max_length=MAX_HISTORY, description="item ids, oldest first")
    text: str | None = Field(default=None, max_length=MAX_TEXT, description="free-text description of the taste")
    user_id: Id | None = Field(default=None, max_length=256, description="echoed back; nothing is stored")
    k: StrictInt = Field(default=10, ge=1, le=MAX_K)
    diversity: Number | None = Field(default=None, ge=0.0, le=1.0)
    explain: StrictBool = True

    @model_validator(mode="after")
    def _something(self) -> AnonymousRequest:
        if not self.history and not self.text:
            raise ValueError("give a non-empty 'history' (item ids) and/or 'text' (a description of the taste)")
        return self


class InterestWeightIn(BaseModel):
    """A new weight for the interest at ``index`` (its position in the profile; 0 removes it)."""

    model_config = _STRICT

    index: StrictInt = Field(ge=0, le=10_000)
    weight: Number = Field(ge=0.0, le=1000.0, allow_inf_nan=False)


_ConceptList = list[StrictStr]


class ProfileEditIn(BaseModel):
    """Pin / mute concepts (by name), and reweight or remove interest clusters (by index)."""

    model_config = _STRICT

    pin: _ConceptList = Field(default_factory=list, max_length=MAX_CONCEPTS)
    unpin: _ConceptList = Field(default_factory=list, max_length=MAX_CONCEPTS)
    mute: _ConceptList = Field(default_factory=list, max_length=MAX_CONCEPTS)
    unmute: _ConceptList = Field(default_factory=list, max_length=MAX_CONCEPTS)
    interests: list[InterestWeightIn] = Field(default_factory=list, max_length=MAX_CONCEPTS)
    remove_interests: list[Annotated[int, Strict(), Field(ge=0, le=10_000)]] = Field(
        default_factory=list, max_length=MAX_CONCEPTS
    )

    @model_validator(mode="after")
    def _something(self) -> ProfileEditIn:
        if not any((self.pin, self.unpin, self.mute, self.unmute, self.interests, self.remove_interests)):
            raise ValueError("an edit needs at least one of pin, unpin, mute, unmute, interests, remove_interests")
        for name in (*self.pin, *self.unpin, *self.mute, *self.unmute):
            if not name.strip() or len(name) > 200:
                raise ValueError(f"concept names are 1 to 200 characters, got {name[:50]!r}")
        if any(i < 0 for i in self.remove_interests):
            raise ValueError("remove_interests holds interest indices (>= 0)")
        both = {normalise_name(n) for n in self.pin} & {normalise_name(n) for n in self.mute}
        if both:
            raise ValueError(f"a concept cannot be pinned and muted at once: {sorted(both)}")
        return self

    def weights(self) -> dict[int, float]:
        """Interest weight overrides, removals as weight 0."""
        out = {w.index: w.weight for w in self.interests}
        out.update({i: 0.0 for i in self.remove_interests})
        return out


class ItemIn(BaseModel):
    """An item to add (new id) or update (known id)."""

    model_config = _STRICT

    item_id: Id = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=1000)
    text: str = Field(default="", max_length=MAX_TEXT)
    categories: list[StrictStr] = Field(default_factory=list, max_length=50)
    image_base64: str | None = Field(
        default=None,
        max_length=MAX_IMAGE_BASE64,
        description="the item's picture (JPEG, PNG or WebP file bytes, base64): encoded at once, shown on the web page",
    )

    @field_validator("image_base64")
    @classmethod
    def _picture(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("image_base64 is not valid base64") from None
        if picture_type(data) is None:
            raise ValueError("image_base64 is not a JPEG, PNG or WebP file")
        return value


class ItemsIn(BaseModel):
    """``{"items": [...]}``."""

    model_config = _STRICT

    items: list[ItemIn] = Field(min_length=1, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _unique(self) -> ItemsIn:
        ids = [i.item_id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique within one request")
        return self


class ItemsOut(BaseModel):
    """The upserted ids and the catalog size after the call."""

    item_ids: list[str]
    n_items: int
    seq: int


class SimilarItem(BaseModel):
    """A neighbour of an item."""

    item_id: str
    title: str
    score: float


class SimilarOut(BaseModel):
    """``{"item_id", "similar": [...]}``."""

    item_id: str
    similar: list[SimilarItem]


# -- rating predictions (issue 26)
#: Most items one prediction request may name.
MAX_PREDICT_ITEMS = 1000


class PredictionOut(BaseModel):
    """One predicted rating and its shares (they sum to the rating)."""

    item_id: str
    rating: float
    contributions: dict[str, float] = Field(
        default_factory=dict,
        description="the rating's shares, summed over the rating stack's members: mean, biases, factors, content, "
        "taste, neighbours, autoencoder, and clip (what clipping to the scale took off); they sum to the rating",
    )


class PredictionsOut(BaseModel):
    """``{"user_id", "predictions": [{"item_id", "rating", "contributions"}]}``."""

    user_id: str
    predictions: list[PredictionOut]


# -- end rating predictions


class HealthOut(BaseModel):
    """Liveness; what is loaded only for an admin key (or with public reads)."""

    status: Literal["ok"]
    n_items: int | None = None
    n_users: int | None = None
    log_seq: int | None = None
    # Replicas on a shared PostgreSQL log only: the newest seq seen in the log (``log_head -
    # log_seq`` rows not yet applied), rows of other replicas applied, and for the last of them
    # when (epoch seconds) and how long after its append it was applied.
    log_head: int | None = None
    followed_rows: int | None = None
    followed_at: float | None = None
    follow_delay_s: float | None = None


class ErrorOut(BaseModel):
    """Every error body: ``{"detail": "..."}`` (a 422 adds ``errors`` or, for an unknown concept,
    ``suggestions``; a 500 names only a ``request_id`` to quote, nothing internal)."""

    detail: str
    errors: list[dict[str, Any]] | None = None
    suggestions: list[str] | None = None
    request_id: str | None = None
