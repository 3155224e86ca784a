"""Learned fusion: the ranking score is a weighted sum of named signals, weights fitted on held-out items.

The learner maximises ``sum_u mean_{t in targets_u} log softmax_{j in C_u}(w . x_uj)[t]`` — the
likelihood of each user's held-out items among a candidate list ``C_u`` (the union of the top
``n_candidates`` items of every signal, plus the targets, minus excluded items) — with an L2
penalty, by L-BFGS with the analytic gradient. Starting from zero weights it is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.optimize
import scipy.sparse as sp

from interestlm.core.types import FloatArray


@dataclass(frozen=True)
class Fusion:
    """A weighted sum of named signals: ``score = sum_name weights[name] * signals[name]``."""

    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, w in self.weights.items():
            if not isinstance(name, str) or not math.isfinite(float(w)):
                raise ValueError(f"Fusion weight {name!r} = {w!r}: names must be strings and weights finite")

    def score(self, signals: Mapping[str, npt.NDArray[np.floating]]) -> FloatArray:
        """The fused score, shaped like the signals (signals without a weight are ignored)."""
        missing = [name for name in self.weights if name not in signals]
        if missing:
            raise ValueError(f"signals {missing} have fusion weights but were not given (given: {sorted(signals)})")
        if not signals:
            raise ValueError("Fusion.score needs at least one signal")
        shape = np.shape(next(iter(signals.values())))
        out = np.zeros(shape, dtype=np.float32)
        for name, w in self.weights.items():
            s = np.asarray(signals[name], dtype=np.float32)
            if s.shape != shape:
                raise ValueError(f"signal {name!r} has shape {s.shape}, expected {shape}")
            out += np.float32(w) * s
        return out

    def table(self) -> str:
        """The weights as a readable table, largest ``|weight|`` first."""
        rows = sorted(self.weights.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        width = max([len("signal"), *(len(n) for n, _ in rows)])
        lines = [f"{'signal':<{width}}  {'weight':>9}", f"{'-' * width}  {'-' * 9}"]
        lines += [f"{name:<{width}}  {w:>+9.4f}" for name, w in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"weights": {name: weight}}``."""
        return {"weights": {name: float(w) for name, w in self.weights.items()}}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Fusion:
        """Inverse of :meth:`to_dict`."""
        weights = raw.get("weights")
        if not isinstance(weights, Mapping):
            raise ValueError("fusion: expected {'weights': {signal name: number}}")
        out: dict[str, float] = {}
        for name, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, int | float):
                raise ValueError(f"fusion: weight of {name!r} must be a number, got {w!r}")
            out[str(name)] = float(w)
        return cls(out)


#: Sign constraints of the named signals: evidence for an item may only raise its score and a
#: dislike may only lower it. Without them, correlated signals on small validation sets got
#: negative weights (short-term -0.65 on the planted fixture), so liking items pushed similar
#: items *down* -- feedback must move the ranking the way the user meant. Popularity is free.
SIGNAL_SIGNS: dict[str, int] = {
    "interest": 1,
    "short_term": 1,
    "concept": 1,
    "graph": 1,
    "visual": 1,
    "collaborative": 1,
    "transition": 1,
    "sequential": 1,
    # Only a boost: a negative weight would bury items added after fitting, which must surface
    # when their text matches a user (their imputed signals already carry the average case).
    "new_item": 1,
    "dislike": -1,
}


@dataclass(frozen=True)
class FusionPlan:
    """What :class:`FusionLearner` fits on, decided before any signal is computed: the sorted rows
    ``users`` (subsampled to ``max_users``), every row's rankable ``targets`` and the ``exclude``d items."""

    users: npt.NDArray[np.int64]
    targets: list[npt.NDArray[np.int64]]
    exclude: sp.csr_matrix
    n_items: int


@dataclass(frozen=True)
class Design:
    """One batch's candidate rows ``x`` (grouped by user), group ``starts``, target rows and weights."""

    x: npt.NDArray[np.float64]
    starts: npt.NDArray[np.int64]
    target_pos: npt.NDArray[np.int64]
    target_w: npt.NDArray[np.float64]


class FusionLearner:
    """Fits :class:`Fusion` weights by softmax likelihood of held-out items (see the module doc).

    ``fit`` returns the :class:`Fusion`; it also keeps ``fusion_``, ``loss_`` (final objective),
    ``n_users_`` (users used) and ``mean_candidates_`` (mean candidate-list length).
    """

    def __init__(
        self,
        *,
        l2: float = 1e-3,
        n_candidates: int = 200,
        max_users: int = 3000,
        seed: int = 0,
        max_iter: int = 500,
        signs: Mapping[str, int] | None = None,
    ) -> None:
        self.signs = SIGNAL_SIGNS if signs is None else signs
        self.l2 = l2
        self.n_candidates = n_candidates
        self.max_users = max_users
        self.seed = seed
        self.max_iter = max_iter

    def _check(self) -> None:
        if self.l2 < 0 or not math.isfinite(self.l2):
            raise ValueError(f"FusionLearner.l2 must be a finite number >= 0, got {self.l2}")
        if self.n_candidates < 1 or self.max_users < 1 or self.max_iter < 1:
            raise ValueError("FusionLearner needs n_candidates >= 1, max_users >= 1 and max_iter >= 1")

    def fit(
        self,
        signals_by_user: Mapping[str, npt.NDArray[np.floating]],
        targets: Sequence[npt.ArrayLike],
        exclude: sp.spmatrix | None = None,
    ) -> Fusion:
        """Learn one weight per signal; row ``u`` of every signal matrix is scored against ``targets[u]``.

        The same as :meth:`plan`, one :meth:`design` over every row and :meth:`solve`; a caller
        that cannot hold every row's signals at once passes them to :meth:`design` in row batches.
        """
        names = list(signals_by_user)
        if not names:
            raise ValueError("FusionLearner.fit needs at least one signal")
        shape = np.shape(signals_by_user[names[0]])
        if len(shape) != 2:
            raise ValueError(f"signal {names[0]!r} must be a 2-D (users, items) matrix, got shape {shape}")
        for name in names:
            if np.shape(signals_by_user[name]) != shape:
                raise ValueError(f"signal {name!r} has shape {np.shape(signals_by_user[name])}, expected {shape}")
        plan = self.plan(targets, exclude, n_users=shape[0], n_items=shape[1])
        return self.solve(plan, names, [self.design(plan, signals_by_user, names, start=0)])

    def plan(
        self,
        targets: Sequence[npt.ArrayLike],
        exclude: sp.spmatrix | None,
        *,
        n_users: int,
        n_items: int,
    ) -> FusionPlan:
        """The users the weights are fitted on and their rankable targets (no signal needed)."""
        self._check()
        if len(targets) != n_users:
            raise ValueError(f"targets has {len(targets)} rows, the signals have {n_users}")
        excl = sp.csr_matrix((n_users, n_items), dtype=bool) if exclude is None else sp.csr_matrix(exclude, dtype=bool)
        if excl.shape != (n_users, n_items):
            raise ValueError(f"exclude has shape {excl.shape}, expected {(n_users, n_items)}")

        # Targets that are excluded (already seen) can never be ranked: drop them, then users left without any.
        clean: list[npt.NDArray[np.int64]] = []
        for u, t in enumerate(targets):
            arr = np.unique(np.asarray(t, dtype=np.int64).ravel())
            if len(arr) and (arr.min() < 0 or arr.max() >= n_items):
                raise ValueError(f"targets[{u}] holds items outside [0, {n_items})")
            row = excl.indices[excl.indptr[u] : excl.indptr[u + 1]]
            clean.append(arr[~np.isin(arr, row)])
        users = np.flatnonzero(np.fromiter((len(t) > 0 for t in clean), dtype=bool, count=n_users))
        if not len(users):
            raise ValueError("FusionLearner.fit: no user has a target that is not excluded")
        if len(users) > self.max_users:
            rng = np.random.default_rng(self.seed)
            users = np.sort(rng.choice(users, self.max_users, replace=False))
        return FusionPlan(users=users.astype(np.int64), targets=clean, exclude=excl, n_items=n_items)

    def design(
        self,
        plan: FusionPlan,
        signals: Mapping[str, npt.NDArray[np.floating]],
        names: Sequence[str],
        *,
        start: int,
    ) -> Design | None:
        """The design rows of the planned users among rows ``start ..`` (``signals`` holds those rows only).

        ``None`` when no planned user falls in the batch.
        """
        n_rows = np.shape(signals[names[0]])[0]
        for name in names:
            expected = (n_rows, plan.n_items)
            if np.shape(signals[name]) != expected:
                raise ValueError(f"signal {name!r} has shape {np.shape(signals[name])}, expected {expected}")
        n_items = plan.n_items
        users = plan.users[(plan.users >= start) & (plan.users < start + n_rows)]
        if not len(users):
            return None
        local = users - start
        b = len(users)
        excl = plan.exclude[users].tocoo()
        n_top = min(self.n_candidates, n_items)
        chosen = np.zeros((b, n_items), dtype=bool)
        for name in names:
            block = np.array(signals[name][local], dtype=np.float32)
            if not np.isfinite(block).all():
                raise ValueError(f"signal {name!r} holds NaN or infinite values")
            block[excl.row, excl.col] = -np.inf
            top = np.argpartition(-block, n_top - 1, axis=1)[:, :n_top] if n_top < n_items else None
            if top is None:
                chosen[:] = True
            else:
                np.put_along_axis(chosen, top, True, axis=1)
        chosen[excl.row, excl.col] = False
        t_rows = np.repeat(np.arange(b), [len(plan.targets[u]) for u in users])
        t_cols = np.concatenate([plan.targets[u] for u in users])
        chosen[t_rows, t_cols] = True
        rows, cols = np.nonzero(chosen)
        x = np.empty((len(rows), len(names)), dtype=np.float64)
        for j, name in enumerate(names):
            x[:, j] = np.asarray(signals[name])[local[rows], cols]
        starts = np.searchsorted(rows, np.arange(b)).astype(np.int64)
        keys = rows.astype(np.int64) * n_items + cols
        target_pos = np.searchsorted(keys, t_rows.astype(np.int64) * n_items + t_cols).astype(np.int64)
        counts = np.bincount(t_rows, minlength=b).astype(np.float64)
        # Each user counts once, however many targets: their targets share the user's unit weight
        # (among all the planned users, not the batch's).
        target_w = 1.0 / (counts[t_rows] * len(plan.users))
        return Design(x=x, starts=starts, target_pos=target_pos, target_w=target_w)

    def solve(self, plan: FusionPlan, names: Sequence[str], parts: Sequence[Design | None]) -> Fusion:
        """The weights fitted on the design rows of every batch (in row order; ``None`` parts skipped)."""
        kept = [p for p in parts if p is not None]
        if sum(len(p.starts) for p in kept) != len(plan.users):
            raise ValueError("FusionLearner.solve: the parts do not cover every planned user exactly once")
        offsets = np.cumsum([0] + [len(p.x) for p in kept[:-1]]).astype(np.int64)
        x = np.concatenate([p.x for p in kept])
        starts = np.concatenate([p.starts + o for p, o in zip(kept, offsets, strict=True)])
        target_pos = np.concatenate([p.target_pos + o for p, o in zip(kept, offsets, strict=True)])
        target_w = np.concatenate([p.target_w for p in kept])
        bounds = [_bound(self.signs.get(name, 0)) for name in names]
        w = self._optimise(x, starts, target_pos, target_w, bounds)
        self.n_users_ = len(plan.users)
        self.mean_candidates_ = float(len(x) / len(plan.users))
        self.fusion_ = Fusion({name: float(v) for name, v in zip(names, w, strict=True)})
        return self.fusion_

    def _optimise(
        self,
        x: npt.NDArray[np.float64],
        starts: npt.NDArray[np.int64],
        target_pos: npt.NDArray[np.int64],
        target_w: npt.NDArray[np.float64],
        bounds: list[tuple[float | None, float | None]],
    ) -> npt.NDArray[np.float64]:
        b = len(starts)
        group = np.repeat(np.arange(b), np.diff(np.r_[starts, len(x)]))
        target_group = group[target_pos]
        user_w = np.bincount(target_group, weights=target_w, minlength=b)
        x_targets = x[target_pos]

        def objective(w: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
            s = x @ w
            peak = np.maximum.reduceat(s, starts)
            e = np.exp(s - peak[group])
            z = np.add.reduceat(e, starts)
            log_z = peak + np.log(z)
            loss = -float(target_w @ (s[target_pos] - log_z[target_group])) + self.l2 * float(w @ w)
            p = e * (user_w / z)[group]
            grad = -(target_w @ x_targets) + p @ x + 2.0 * self.l2 * w
            return loss, grad

        result = scipy.optimize.minimize(
            objective,
            np.zeros(x.shape[1]),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter, "gtol": 1e-8, "ftol": 1e-12},
        )
        self.loss_ = float(result.fun)
        w: npt.NDArray[np.float64] = np.asarray(result.x, dtype=np.float64)
        return w


def _bound(sign: int) -> tuple[float | None, float | None]:
    if sign > 0:
        return (0.0, None)
    if sign < 0:
        return (None, 0.0)
    return (None, None)


#: Signals that only exist for items with training interactions; for a cold item (no
#: interactions, e.g. added after fitting) they are imputed from the content signals.
INTERACTION_SIGNALS: tuple[str, ...] = ("collaborative", "transition", "popularity")

#: Signals that are neither predicted nor used as predictors: ``new_item`` is constant over
#: the warm items the imputer is fitted on.
NOT_PREDICTORS: tuple[str, ...] = ("new_item",)


@dataclass(frozen=True, kw_only=True)
class Imputer:
    """Linear prediction of interaction-based signals from content signals, for cold items.

    Without it a new item scores 0 on the collaborative signal (whose learned weight is usually
    the largest), so it could never surface however well its text matches the user. The
    coefficients are least squares over warm items, so a cold item is scored as a warm item
    with the same content evidence would be on average.
    """

    coefficients: dict[str, dict[str, float]]

    @classmethod
    def fit(
        cls,
        signals: Mapping[str, npt.NDArray[np.floating]],
        warm: npt.NDArray[np.bool_],
        *,
        max_rows: int = 200_000,
        seed: int = 0,
    ) -> Imputer:
        """Least-squares coefficients (with intercept) over the warm item columns of ``signals``."""
        n_users = np.shape(next(iter(signals.values())))[0] if signals else 0
        sample = ImputerSample.draw(list(signals), n_users, warm, max_rows=max_rows, seed=seed)
        if sample is None:
            return cls(coefficients={})
        values = sample.buffers()
        sample.collect(signals, start=0, into=values)
        return sample.fit(values)

    def apply(
        self, signals: dict[str, FloatArray], cold: npt.NDArray[np.bool_]
    ) -> dict[str, FloatArray]:
        """``signals`` with the interaction signals of the ``cold`` columns replaced by predictions."""
        if not self.coefficients or not cold.any():
            return signals
        out = dict(signals)
        cols = np.flatnonzero(cold)
        for target, coef in self.coefficients.items():
            if target not in out:
                continue
            pred = np.full((out[target].shape[0], len(cols)), coef.get("_intercept", 0.0), dtype=np.float32)
            for name, b in coef.items():
                if name in out and name != "_intercept":
                    pred += np.float32(b) * out[name][:, cols]
            filled = out[target].copy()
            filled[:, cols] = pred
            out[target] = filled
        return out


@dataclass(frozen=True)
class ImputerSample:
    """The seeded random (row, warm column) entries :meth:`Imputer.fit` regresses on.

    Drawn from the shapes alone, so the entries can be collected from the signals one row batch
    at a time (:meth:`collect`) and fitted once all are in (:meth:`fit`).
    """

    content: tuple[str, ...]
    targets: tuple[str, ...]
    rows: npt.NDArray[np.int64]
    picks: npt.NDArray[np.int64]

    @classmethod
    def draw(
        cls, names: Sequence[str], n_users: int, warm: npt.NDArray[np.bool_], *, max_rows: int = 200_000, seed: int = 0
    ) -> ImputerSample | None:
        """The entries for signals ``names`` over ``n_users`` rows; ``None`` when there is nothing to fit."""
        content = tuple(n for n in names if n not in INTERACTION_SIGNALS and n not in NOT_PREDICTORS)
        targets = tuple(n for n in INTERACTION_SIGNALS if n in names)
        if not content or not targets or not warm.any():
            return None
        cols = np.flatnonzero(warm)
        rng = np.random.default_rng(seed)
        n = min(max_rows, n_users * len(cols))
        rows = rng.integers(0, n_users, n)
        picks = cols[rng.integers(0, len(cols), n)]
        return cls(content=content, targets=targets, rows=rows.astype(np.int64), picks=picks.astype(np.int64))

    def buffers(self) -> dict[str, npt.NDArray[np.float64]]:
        """Empty value arrays, one per signal used, for :meth:`collect` to fill."""
        return {name: np.zeros(len(self.rows), dtype=np.float64) for name in (*self.content, *self.targets)}

    def collect(
        self,
        signals: Mapping[str, npt.NDArray[np.floating]],
        *,
        start: int,
        into: dict[str, npt.NDArray[np.float64]],
    ) -> None:
        """Copy the sampled entries that fall in rows ``start ..`` (``signals`` holds those rows only)."""
        n_rows = np.shape(signals[self.targets[0]])[0]
        hit = np.flatnonzero((self.rows >= start) & (self.rows < start + n_rows))
        rows, picks = self.rows[hit] - start, self.picks[hit]
        for name, out in into.items():
            out[hit] = np.asarray(signals[name])[rows, picks]

    def fit(self, values: Mapping[str, npt.NDArray[np.float64]]) -> Imputer:
        """The :class:`Imputer` fitted on the collected ``values``."""
        x = np.column_stack([values[c] for c in self.content] + [np.ones(len(self.rows))])
        out: dict[str, dict[str, float]] = {}
        for t in self.targets:
            beta, *_ = np.linalg.lstsq(x, values[t], rcond=None)
            out[t] = {name: float(b) for name, b in zip([*self.content, "_intercept"], beta, strict=True)}
        return Imputer(coefficients=out)


#: Bytes of raw signal matrices that learning the fusion weights holds at once (one row batch of
#: every signal, float32). Holding every fusion user's signals over the whole catalogue peaked
#: at 13.7 GB at 100x ml-latest-small (974k items), and passed 21.8 GB with 3,000 users at 10x.
FUSION_BYTES = 512 * 2**20


def fusion_batch_users(n_items: int, n_signals: int, budget_bytes: int = FUSION_BYTES, *, align: int = 1) -> int:
    """Users per batch such that ``users x n_items x n_signals x 4`` bytes stay within
    ``budget_bytes`` (at least 1); rounded down to a multiple of ``align`` when there is room
    for one, so the batches cut the signal computation where the one-shot path cuts it."""
    if budget_bytes < 0 or align < 1:
        raise ValueError(f"fusion_batch_users needs budget_bytes >= 0 and align >= 1, got {budget_bytes}, {align}")
    users = budget_bytes // max(1, n_items * n_signals * 4)
    if users >= align:
        users -= users % align
    return max(1, int(users))


def fit_imputer_and_fusion(
    signals_of: Callable[[int, int], Mapping[str, FloatArray]],
    *,
    n_users: int,
    n_items: int,
    names: Sequence[str],
    cold: npt.NDArray[np.bool_],
    targets: Sequence[npt.ArrayLike],
    exclude: sp.spmatrix | None,
    learner: FusionLearner,
    seed: int,
    budget_bytes: int = FUSION_BYTES,
    align: int = 1,
) -> tuple[Imputer, Fusion]:
    """The :class:`Imputer` (fitted on the warm columns) and the fusion weights (learned on the
    imputed signals) of ``n_users`` rows, holding one batch of rows' signals at a time.

    ``signals_of(a, b)`` computes every signal in ``names`` for rows ``a .. b-1`` (``(b - a,
    n_items)`` matrices). When all rows fit in ``budget_bytes`` (:func:`fusion_batch_users`) they
    are computed once, as one batch; otherwise twice, batch by batch: a first pass collects the
    imputer's sampled entries, a second applies the fitted imputer and keeps only each batch's
    design rows (a pass suffices when imputing changes nothing: no cold column or no imputer).
    Either way the weights and coefficients are those of ``Imputer.fit`` and ``FusionLearner.fit``
    on all rows at once, provided ``signals_of`` gives a row the same values in any batch (for
    ``compute_signals``: batches cut at multiples of its ``batch_size``, passed as ``align``).
    """
    names = list(names)
    plan = learner.plan(targets, exclude, n_users=n_users, n_items=n_items)
    sample = ImputerSample.draw(names, n_users, ~cold, seed=seed)
    values = sample.buffers() if sample is not None else {}
    batch = fusion_batch_users(n_items, len(names), budget_bytes, align=align)
    spans = [(a, min(a + batch, n_users)) for a in range(0, n_users, batch)]
    # Without cold columns (or anything to impute from) imputing is the identity: design rows
    # can be taken in the first pass.
    identity = sample is None or not cold.any()
    parts: list[Design | None] = []
    held: Mapping[str, FloatArray] | None = None
    for a, b in spans:
        raw = signals_of(a, b)
        if sample is not None:
            sample.collect(raw, start=a, into=values)
        if identity:
            parts.append(learner.design(plan, raw, names, start=a))
        elif len(spans) == 1:
            held = raw
        del raw  # before the next batch is computed: one batch at a time
    imputer = sample.fit(values) if sample is not None else Imputer(coefficients={})
    if not identity:
        for a, b in spans:
            raw = held if held is not None else signals_of(a, b)
            held = None
            parts.append(learner.design(plan, imputer.apply(dict(raw), cold), names, start=a))
            del raw
    return imputer, learner.solve(plan, names, parts)
