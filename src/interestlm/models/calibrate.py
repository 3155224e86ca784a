"""One learned score offset for items without training interactions (new items).

A content-based model scores a new item from its text and concepts alone. Those scores order new
items sensibly, but sit on a different level from the scores of items the softmax has trained:
training pushes the vectors of items that occur often towards the states that precede them, and
a new item never gets that push, so it rarely reaches a top 10 even when it is the next item.
One scalar added to every new item's score fixes the level; it is chosen on the validation rows,
where some targets are items that were new at training time (exactly what a new item will be at
serving time). Nothing about warm items' order changes.

Three objectives. ``overall``: NDCG@10 over all validation rows. New-item targets are few, so this
mostly asks whether new items disturb the warm ones' top 10, and it tends to push them down
(measured on Amazon Scientific with 10 % of items held out: NDCG@10 +0.7 %, Recall@10 of the new
targets 0.067 -> 0.023). ``balanced``: the mean of NDCG@10 over new-item targets and over warm
ones, so a new arrival counts as much as the back catalogue. Where new targets are a sliver of
the rows that trade is ruinous: on Scientific's official split (37 of 8,442 validation targets
new) it chose an offset that put new items on top of every list, and test NDCG@10 fell from
0.088 to 0.026. ``bounded`` (the default): the best NDCG@10 over new-item targets among the
offsets that keep the overall NDCG@10 within ``tolerance`` (relative) of the best any offset
reaches, so new items get every lift the whole ranking can afford and no more.

**Affinity for new items.** Whether the next item is new depends on the user far more than on
the item: on ml-100k with the newest 20 % of items held out, 4 % of validation targets are new
when none of the user's last 5 items is, and 53 % when more than 60 % of them are (test rows:
4 % and 80 %). A model knows which items it was trained on, so that share is there at serving
time. :func:`best_offsets` can learn the offset as ``offset + affinity * share`` per row, where
``share`` is the share of new items among the row's last few history items
(:func:`recent_new_share`): one level for new items, and a slope that lifts them for users who
have been choosing them.

Why one file over 400 lines: the new-item lift's offset, slope and trend share one search over the
validation rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from interestlm.core.types import FloatArray

#: How :func:`best_offset` trades new-item targets against the rest (see the module docstring).
Objective = Literal["bounded", "balanced", "overall"]
OBJECTIVES: tuple[Objective, ...] = ("bounded", "balanced", "overall")


@dataclass(frozen=True)
class TargetRanks:
    """What ranking one target needs, per (row, target) pair, with any offset on new items.

    ``score``: the target's score (-inf when it is excluded, i.e. unreachable); ``new``: whether
    the target is a new item; ``warm_top`` / ``new_top``: the ``k`` best scores of the other
    rankable warm / new items of that row (-inf padded), from which the rank of the target under
    any offset follows exactly as long as it lies inside the top ``k``; ``share``: the row's
    share of new items among its recent history (:func:`recent_new_share`), which the
    ``affinity`` slope of an offset multiplies.
    """

    score: FloatArray
    new: npt.NDArray[np.bool_]
    warm_top: FloatArray
    new_top: FloatArray
    share: FloatArray

    @property
    def k(self) -> int:
        """The cut-off the top lists were kept for."""
        return int(self.warm_top.shape[1])


def recent_new_share(
    histories: Sequence[npt.NDArray[np.integer]], new_items: npt.NDArray[np.bool_], window: int
) -> FloatArray:
    """The share of new items among each history's last ``window`` items (0 for an empty
    history); items at or past ``len(new_items)`` (added to the catalogue since) count as new."""
    out = np.zeros(len(histories), dtype=np.float32)
    for j, h in enumerate(histories):
        recent = np.asarray(h, dtype=np.int64)[-window:]
        if len(recent):
            new = recent >= len(new_items)
            new[~new] = new_items[recent[~new]]
            out[j] = new.mean()
    return out


def target_ranks(
    scores: FloatArray,
    targets: Sequence[npt.NDArray[np.integer]],
    exclude: Sequence[npt.NDArray[np.integer]],
    new_items: npt.NDArray[np.bool_],
    k: int = 10,
    shares: npt.NDArray[np.floating] | None = None,
) -> TargetRanks:
    """:class:`TargetRanks` of every target of a block of rows (``scores``: ``(rows, n_items)``;
    ``shares``: each row's :func:`recent_new_share`, default 0)."""
    s = np.array(scores, dtype=np.float32, copy=True)
    pair_score: list[float] = []
    pair_new: list[bool] = []
    pair_row: list[int] = []
    for j, (t, ex) in enumerate(zip(targets, exclude, strict=True)):
        s[j, ex] = -np.inf
        for item in np.asarray(t, dtype=np.int64):
            pair_score.append(float(s[j, item]))
            pair_new.append(bool(new_items[item]))
            pair_row.append(j)
        # Targets compete with the other items, not with each other.
        s[j, np.asarray(t, dtype=np.int64)] = -np.inf
    rows = np.asarray(pair_row, dtype=np.int64)
    return TargetRanks(
        score=np.asarray(pair_score, dtype=np.float32),
        new=np.asarray(pair_new, dtype=bool),
        warm_top=_top(np.where(new_items[None, :], -np.inf, s), k)[rows],
        new_top=_top(np.where(new_items[None, :], s, -np.inf), k)[rows],
        share=(np.zeros(len(targets), np.float32) if shares is None else np.asarray(shares, np.float32))[rows],
    )


def _top(scores: npt.NDArray[np.floating], k: int) -> FloatArray:
    """The ``k`` largest values of each row, unordered (-inf padded when a row has fewer)."""
    n = scores.shape[1]
    if n <= k:
        out = np.full((scores.shape[0], k), -np.inf, dtype=np.float32)
        out[:, :n] = scores
        return out
    return np.partition(scores, n - k, axis=1)[:, n - k :].astype(np.float32)


def concat_ranks(parts: list[TargetRanks]) -> TargetRanks:
    """One :class:`TargetRanks` of several blocks of rows."""
    return TargetRanks(
        score=np.concatenate([p.score for p in parts]),
        new=np.concatenate([p.new for p in parts]),
        warm_top=np.concatenate([p.warm_top for p in parts]),
        new_top=np.concatenate([p.new_top for p in parts]),
        share=np.concatenate([p.share for p in parts]),
    )


def subset(ranks: TargetRanks, pairs: npt.NDArray[np.bool_]) -> TargetRanks:
    """The (row, target) pairs of ``ranks`` selected by the mask ``pairs``."""
    return TargetRanks(
        score=ranks.score[pairs],
        new=ranks.new[pairs],
        warm_top=ranks.warm_top[pairs],
        new_top=ranks.new_top[pairs],
        share=ranks.share[pairs],
    )


def gain(
    ranks: TargetRanks, offsets: npt.NDArray[np.floating], *, affinity: float = 0.0, balanced: bool = False
) -> npt.NDArray[np.float64]:
    """Mean discounted gain ``1 / log2(rank + 2)`` inside the top ``k`` for each offset (on a
    row: ``offset + affinity * share``).

    For one target per row this is NDCG@k; with several it is their mean discounted gain.
    ``balanced``: the mean of that gain over new-item targets and over warm ones, so both groups
    count equally however few targets are new.
    """
    out = np.zeros(len(offsets), dtype=np.float64)
    if len(ranks.score) == 0:
        return out
    weights = np.full(len(ranks.score), 1.0 / len(ranks.score))
    if balanced:
        groups = [g for g in (ranks.new, ~ranks.new) if g.any()]
        weights = sum((g / g.sum() / len(groups) for g in groups), np.zeros(len(ranks.score)))
    discount = np.concatenate([1.0 / np.log2(np.arange(ranks.k) + 2.0), [0.0]])
    slope = affinity * ranks.share.astype(np.float64)
    for i, b in enumerate(np.asarray(offsets, dtype=np.float64)):
        lift = b + slope
        target = ranks.score + lift * ranks.new
        rank = (ranks.warm_top > target[:, None]).sum(axis=1) + (ranks.new_top + lift[:, None] > target[:, None]).sum(
            axis=1
        )
        hit = np.isfinite(target)
        out[i] = float((np.where(hit, discount[np.minimum(rank, ranks.k)], 0.0) * weights).sum())
    return out


def _offset_candidates(ranks: TargetRanks, affinity: float, n_candidates: int) -> npt.NDArray[np.float64]:
    """Offsets just past each quantile of the points at which a rank changes under ``affinity``
    (a new target passing a warm item, a new item passing a warm target), plus 0."""
    reachable = np.isfinite(ranks.score)
    slope = affinity * ranks.share
    lift = (ranks.warm_top - (ranks.score + slope)[:, None])[ranks.new & reachable]
    drop = (ranks.score[:, None] - ranks.new_top - slope[:, None])[~ranks.new & reachable]
    changes = np.concatenate([lift.ravel(), drop.ravel()])
    changes = changes[np.isfinite(changes)]
    if len(changes) == 0:
        return np.zeros(1)
    # Just past each change point, so the comparison it decides has flipped.
    candidates = np.quantile(changes, np.linspace(0.0, 1.0, n_candidates)) + 1e-4
    return np.unique(np.concatenate([[0.0], candidates]))


def change_scale(ranks: TargetRanks, n_candidates: int = 256) -> float:
    """The 95th percentile of the score gaps at which a rank changes: how far a lift must reach."""
    return float(np.quantile(np.abs(_offset_candidates(ranks, 0.0, n_candidates)), 0.95))


@dataclass(frozen=True)
class OffsetGrid:
    """Candidate new-item lifts and what each scores on the validation rows.

    ``lifts[i]``: ``(offset, affinity, *extra)``; ``values[i]``: NDCG@10 over all rows (the
    ``balanced`` mean for that objective); ``for_new[i]``: NDCG@10 over new-item targets.
    """

    lifts: list[tuple[float, ...]]
    values: npt.NDArray[np.float64]
    for_new: npt.NDArray[np.float64]

    @staticmethod
    def join(grids: Sequence[OffsetGrid]) -> OffsetGrid:
        """One grid of the candidates of several (e.g. one per trend weight)."""
        return OffsetGrid(
            lifts=[lift for g in grids for lift in g.lifts],
            values=np.concatenate([g.values for g in grids]),
            for_new=np.concatenate([g.for_new for g in grids]),
        )


def offset_grid(
    ranks: TargetRanks,
    *,
    objective: Objective = "bounded",
    n_candidates: int = 256,
    min_offset: float | None = None,
    affinity: bool = False,
    n_slopes: int = 24,
    extra: tuple[float, ...] = (),
) -> OffsetGrid:
    """Every ``(offset, affinity)`` candidate :func:`best_offsets` weighs, scored on ``ranks``
    (``extra`` is appended to each candidate, to tell grids apart once joined)."""
    slopes = [0.0]
    if affinity:
        slopes = list(np.linspace(0.0, 2.0 * change_scale(ranks, n_candidates), n_slopes + 1))
    lifts: list[tuple[float, ...]] = []
    values: list[npt.NDArray[np.float64]] = []
    for_new: list[npt.NDArray[np.float64]] = []
    for slope in slopes:
        candidates = _offset_candidates(ranks, slope, n_candidates)
        if min_offset is not None:
            candidates = np.unique(np.concatenate([[max(0.0, min_offset)], candidates[candidates >= min_offset]]))
        lifts.extend((float(b), float(slope), *extra) for b in candidates)
        values.append(gain(ranks, candidates, affinity=slope, balanced=objective == "balanced"))
        for_new.append(gain(subset(ranks, ranks.new), candidates, affinity=slope))
    return OffsetGrid(lifts=lifts, values=np.concatenate(values), for_new=np.concatenate(for_new))


def choose_lift(grid: OffsetGrid, *, objective: Objective = "bounded", tolerance: float = 0.01) -> tuple[float, ...]:
    """The candidate of ``grid`` that is best for ``objective``; ties: the one nearest all zeros."""
    values = grid.values
    if objective == "bounded":
        affordable = values >= (1.0 - tolerance) * values.max() - 1e-12
        lifted = np.where(affordable, grid.for_new, -np.inf)
        # Among equally good lifts for new items, the one that spends the least overall NDCG.
        values = np.where(lifted >= lifted.max() - 1e-12, values, -np.inf)
    tied = [lift for lift, v in zip(grid.lifts, values, strict=True) if v >= values.max() - 1e-12]
    return min(tied, key=lambda lift: sum(abs(x) for x in lift))


def _check_objective(caller: str, objective: str) -> None:
    """A clear error for an objective :data:`OBJECTIVES` does not name (it would otherwise be
    read as ``overall``)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"{caller}: objective must be one of {OBJECTIVES}, not {objective!r}")


def enough_new_targets(ranks: TargetRanks, min_new_targets: int) -> bool:
    """Whether at least ``min_new_targets`` reachable targets are new items: the evidence a lift needs."""
    return int((ranks.new & np.isfinite(ranks.score)).sum()) >= min_new_targets


def best_offsets(
    ranks: TargetRanks,
    *,
    objective: Objective = "bounded",
    tolerance: float = 0.01,
    min_new_targets: int = 10,
    n_candidates: int = 256,
    min_offset: float | None = None,
    affinity: bool = False,
    n_slopes: int = 24,
) -> tuple[float, float]:
    """The ``(offset, affinity)`` for new items' scores (``offset + affinity * share`` on a row)
    that is best for ``objective``; ties: the pair nearest ``(0, 0)``.

    ``tolerance`` is the relative loss of overall NDCG@10 the ``bounded`` objective may spend on
    new-item targets. ``(0, 0)`` when fewer than ``min_new_targets`` targets are new items: with
    no evidence on how new items should rank, the offset would only learn to hide them. Offset
    candidates are quantiles of the offsets at which a rank changes, plus 0. ``min_offset``
    (None: no bound) keeps only offsets at or above it: ``0.0`` lets the offset lift new items
    but never sink them below their content score, which every objective may otherwise do where
    burying new items wins validation NDCG. With ``affinity`` the slope is searched too, from 0
    (only lifts for users whose recent items are new) up to twice the 95th percentile of the
    rank-change gaps, so a user whose recent items are all new can be lifted past any warm item.
    """
    _check_objective("best_offsets", objective)
    if not enough_new_targets(ranks, min_new_targets):
        return 0.0, 0.0
    grid = offset_grid(
        ranks,
        objective=objective,
        n_candidates=n_candidates,
        min_offset=min_offset,
        affinity=affinity,
        n_slopes=n_slopes,
    )
    offset, slope = choose_lift(grid, objective=objective, tolerance=tolerance)
    return offset, slope


def best_offset(ranks: TargetRanks, **options: Any) -> float:
    """The one offset on new items' scores that is best for the objective (ties: the one nearest
    0): :func:`best_offsets` (same ``options``) without the affinity slope."""
    offset, _ = best_offsets(ranks, **{**options, "affinity": False})
    return offset


def window_counts(
    log_items: npt.NDArray[np.int64],
    log_times: npt.NDArray[np.float64],
    n_items: int,
    times: npt.NDArray[np.float64],
    window: float,
) -> FloatArray:
    """Each item's events in a time-sorted log during the ``window`` seconds before each of
    ``times``, strictly before it (the request's own event is never counted; NaN: the window
    ending at the log's last event, inclusive), ``(len(times), n_items)``."""
    out = np.zeros((len(times), n_items), dtype=np.float32)
    if not len(log_times):
        return out
    last = float(log_times[-1])
    for j, t in enumerate(np.asarray(times, dtype=np.float64)):
        end = len(log_times) if np.isnan(t) else int(np.searchsorted(log_times, t, side="left"))
        start = int(np.searchsorted(log_times, (last if np.isnan(t) else t) - window, side="left"))
        out[j] = np.bincount(log_items[start:end], minlength=n_items)
    return out


@dataclass(frozen=True)
class LiftBlock:
    """A block of validation rows as :func:`best_lift` reads them: ``scores`` with every lift at
    0, the rows' ``targets`` and ``seen`` (excluded) items, their :func:`recent_new_share`, and
    ``trending``: ``log(1 + live count)`` of each new item (0 elsewhere), None without a log."""

    scores: FloatArray
    targets: Sequence[npt.NDArray[np.integer]]
    seen: Sequence[npt.NDArray[np.integer]]
    shares: FloatArray
    trending: FloatArray | None = None


def best_lift(
    blocks: Sequence[LiftBlock],
    new_items: npt.NDArray[np.bool_],
    *,
    objective: Objective = "bounded",
    tolerance: float = 0.01,
    min_new_targets: int = 10,
    min_offset: float | None = None,
    affinity: bool = False,
    n_trend_weights: int = 12,
) -> tuple[float, float, float]:
    """The ``(offset, affinity, trend weight)`` of new items' lift, ``offset + affinity * share +
    weight * trending`` on a row, best for ``objective`` on the validation ``blocks``: the
    :func:`best_offsets` search once per trend weight (0 up to :func:`change_scale`, when the
    blocks carry ``trending``), the candidates joined. ``(0, 0, 0)`` without enough new targets."""
    _check_objective("best_lift", objective)

    def ranks_at(weight: float) -> TargetRanks:
        parts = []
        for b in blocks:
            lifted = b.scores if b.trending is None or weight == 0.0 else b.scores + np.float32(weight) * b.trending
            parts.append(target_ranks(lifted, b.targets, b.seen, new_items, shares=b.shares))
        return concat_ranks(parts)

    plain = ranks_at(0.0)
    if not enough_new_targets(plain, min_new_targets):
        return 0.0, 0.0, 0.0
    weights = [0.0]
    if any(b.trending is not None for b in blocks):
        weights = list(np.linspace(0.0, change_scale(plain), n_trend_weights + 1))
    grid = OffsetGrid.join([
        offset_grid(plain if w == 0.0 else ranks_at(float(w)), objective=objective, min_offset=min_offset,
                    affinity=affinity, extra=(float(w),))
        for w in weights
    ])  # fmt: skip
    offset, slope, weight = choose_lift(grid, objective=objective, tolerance=tolerance)
    return offset, slope, weight


__all__ = [
    "OBJECTIVES",
    "LiftBlock",
    "Objective",
    "OffsetGrid",
    "TargetRanks",
    "best_lift",
    "best_offset",
    "best_offsets",
    "change_scale",
    "choose_lift",
    "concat_ranks",
    "enough_new_targets",
    "gain",
    "offset_grid",
    "recent_new_share",
    "subset",
    "target_ranks",
    "window_counts",
]
