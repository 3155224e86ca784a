"""THE ranker: signals -> learned fusion -> pins / mutes -> seen-item filter -> MMR, in batches.

The library (:class:`~interestlm.recommender.Recommender`), the evaluation protocol and the HTTP
service all rank through :class:`Ranker`; nothing else turns signals into a ranked list. For
catalogues above ``candidates_above`` items, a candidate stage (:mod:`interestlm.retrieve`)
picks each user's candidates first and only those are scored.

A score decomposes exactly: ``score(u, i) = sum_s weight_s * signal_s(u, i) + pin(u, i)``
(:meth:`Ranker.contributions`), which is what explanations cite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from interestlm.core.errors import BadInputError
from interestlm.core.schema import InterestProfile
from interestlm.core.types import FloatArray, IntArray
from interestlm.rank.fusion import FUSION_BYTES, Fusion, FusionLearner, Imputer, fit_imputer_and_fusion
from interestlm.rank.rerank import edit_mask, mmr
from interestlm.rank.signals import SignalContext, compute_signals
from interestlm.retrieve.candidates import CandidateStage

#: The share of a list that pinned concepts' items are owed: at each position, if fewer than this
#: share of the items so far carry a pinned concept, the best pinned item comes next, lifted just
#: enough to rank there (its ``pin`` contribution). A pinned item that ranks higher on its own
#: merit is not held back. A lift on the score scale moved whole blocks of items at once (every
#: item of a pinned genre above every unpinned one, or none of them into the top-10), whatever
#: the user's own taste; a share of the list acts the same way for every user.
PIN_SHARE = 0.5
#: How many random catalogue items join each user's candidates to set the signals' scale.
REFERENCE_ITEMS = 2048
#: Name of the pins' share of a score in :meth:`Ranker.contributions`.
PIN = "pin"


@dataclass(frozen=True, kw_only=True)
class Ranked:
    """One ranked item: its index, fused score (edits applied) and each signal's share of it."""

    item: int
    score: float
    contributions: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, eq=False)
class Ranker:
    """Fused, edited, filtered and diversified ranking over one :class:`SignalContext`.

    ``signals`` are the configured signal names (those the context cannot compute are left
    out); ``imputer`` fills interaction signals of items without interactions; ``candidates``
    (optional) retrieves per-user candidates when the catalogue has more than
    ``candidates_above`` items, ``candidate_batch`` profiles at a time.
    """

    context: SignalContext
    fusion: Fusion
    imputer: Imputer
    signals: tuple[str, ...]
    batch_size: int = 256
    candidates: CandidateStage | None = None
    candidates_above: int = 200_000
    candidate_batch: int = 32

    # ------------------------------------------------------------------ signals and scores
    def signal_names(self) -> tuple[str, ...]:
        """The configured signals this context can compute."""
        available = self.context.names
        return tuple(name for name in self.signals if name in available)

    def signal_matrices(
        self,
        profiles: Sequence[InterestProfile],
        *,
        items: npt.ArrayLike | None = None,
        reference: IntArray | None = None,
    ) -> dict[str, FloatArray]:
        """Every signal as ``(len(profiles), n)``, cold items' interaction signals imputed;
        standardised over the ``reference`` positions of ``items`` when given."""
        cols = None if items is None else np.asarray(items, dtype=np.int32).ravel()
        raw = compute_signals(
            profiles, self.context, items=cols, names=self.signal_names(), batch_size=self.batch_size,
            reference=reference,
        )
        cold = cold_items(self.context)
        return self.imputer.apply(raw, cold if cols is None else cold[cols])

    def scores(self, profiles: Sequence[InterestProfile], *, items: npt.ArrayLike | None = None) -> FloatArray:
        """Fused score of every item (or of ``items``) per profile, muted items ``-inf`` (pins act in :meth:`rank`).

        Profiles are scored ``batch_size`` at a time, so only one batch of signals is held.
        """
        cols = None if items is None else np.asarray(items, dtype=np.int32).ravel()
        n = self.context.n_items if cols is None else len(cols)
        out = np.empty((len(profiles), n), dtype=np.float32)
        for start in range(0, len(profiles), self.batch_size):
            batch = profiles[start : start + self.batch_size]
            out[start : start + len(batch)] = self._fused(batch, self.signal_matrices(batch, items=cols), cols)[0]
        return out

    def _fused(
        self, batch: Sequence[InterestProfile], signals: dict[str, FloatArray], cols: IntArray | None
    ) -> tuple[FloatArray, list[npt.NDArray[np.bool_] | None]]:
        """Fused rows of one batch, muted items ``-inf``, and each row's pinned items (None without pins)."""
        fused = self.fusion.score(signals).astype(np.float32)
        pinned: list[npt.NDArray[np.bool_] | None] = []
        for row, profile in enumerate(batch):
            pinned.append(self._apply_edits(profile, fused[row], cols))
        return fused, pinned

    def _apply_edits(
        self, profile: InterestProfile, row: FloatArray, cols: IntArray | None
    ) -> npt.NDArray[np.bool_] | None:
        """Remove muted items and those of hidden interests in place on one profile's fused row;
        returns which items are pinned."""
        hidden = self._hidden_interest_items(profile)
        if hidden is not None:
            row[hidden if cols is None else hidden[cols]] = -np.inf
        if not (profile.edits.muted or profile.edits.pinned):
            return None
        mask, boost = edit_mask(self.context.item_concepts, muted=profile.edits.muted, pinned=profile.edits.pinned)
        if cols is not None:
            mask, boost = mask[cols], boost[cols]
        row[mask] = -np.inf
        return (boost > 0) if profile.edits.pinned else None

    def _hidden_interest_items(self, profile: InterestProfile) -> npt.NDArray[np.bool_] | None:
        """Items that belong to an interest the user set to weight 0 (None when none is hidden).

        An item belongs to the interest whose vector is most similar to it, among all of the
        user's interests: exactly the items an explanation would have said served that interest.
        Hiding an interest removes them, as muting a concept removes its items.
        """
        zeroed = [pos for pos, w in profile.edits.interest_weights if w == 0 and 0 <= pos < len(profile.interests)]
        if not zeroed:
            return None
        vectors = np.stack([i.vector for i in profile.interests]).astype(np.float32)
        items = self.context.interest_vectors
        if vectors.shape[1] != items.shape[1]:
            raise ValueError(f"interest vectors have {vectors.shape[1]} dims, item vectors {items.shape[1]}")
        sims = vectors @ items.T
        owner = np.argmax(sims, axis=0)
        hidden: npt.NDArray[np.bool_] = np.isin(owner, zeroed) & (sims.max(axis=0) > 0)
        return hidden

    def contributions(self, profile: InterestProfile, items: npt.ArrayLike) -> dict[str, FloatArray]:
        """Each signal's share ``weight * value`` of ``items``' scores for ``profile``.

        The shares sum to the fused score :meth:`scores` gives. Pins act when a list is made
        (:meth:`rank` adds their ``pin`` share there). Signals are standardised over the whole
        catalogue, as for scoring, so they are computed for every item and read at ``items``.
        """
        cols = np.asarray(items, dtype=np.int32).ravel()
        weights = self.fusion.weights
        if self._uses_candidates():
            # Scored as a candidate list is: beside the reference sample, on its scale.
            scored, ref_pos = self._with_reference(cols)
            signals = self.signal_matrices([profile], items=scored, reference=ref_pos)
            pos: npt.NDArray[np.integer] = np.searchsorted(scored, cols)
        else:
            signals, pos = self.signal_matrices([profile]), cols
        return {name: np.float32(w) * signals[name][0, pos] for name, w in weights.items() if name in signals}

    # ------------------------------------------------------------------ ranking
    def rank(
        self, profiles: Sequence[InterestProfile], k: int, *, diversity: float = 0.0
    ) -> list[list[Ranked]]:
        """Top-``k`` per profile, best first: seen and muted items removed, then MMR over the best
        ``max(5k, 50)`` (``diversity`` 0 is the plain top-``k``).

        Seen means :attr:`InterestProfile.seen_items`: the seed items standing in for the history of
        a profile built from text are ranked like any other item (they were chosen because they fit).
        """
        if k < 1:
            raise BadInputError(f"k must be >= 1, got {k}")
        if not 0.0 <= diversity <= 1.0:
            raise BadInputError(f"diversity must be in [0, 1], got {diversity}")
        if self._uses_candidates():
            return self._rank_candidates(profiles, k, diversity)
        out: list[list[Ranked]] = []
        for start in range(0, len(profiles), self.batch_size):
            batch = profiles[start : start + self.batch_size]
            signals = self.signal_matrices(batch)
            scores, pinned = self._fused(batch, signals, None)
            for row, profile in enumerate(batch):
                chosen = self._select(scores[row], None, profile, k, diversity, pinned[row])
                out.append(self._with_shares(chosen, signals, row, None))
        return out

    def _with_shares(
        self, ranked: list[Ranked], signals: dict[str, FloatArray], row: int, cols: IntArray | None
    ) -> list[Ranked]:
        """``ranked`` with each item's signal shares, read off the signals it was scored with (a
        pinned item's lift, already in ``contributions``, is kept)."""
        if not ranked:
            return ranked
        items = np.asarray([r.item for r in ranked], dtype=np.int64)
        if cols is None:
            pos = items
        else:
            order = np.argsort(cols)
            pos = order[np.searchsorted(cols, items, sorter=order)]
        shares = {n: np.float32(w) * signals[n][row, pos] for n, w in self.fusion.weights.items() if n in signals}
        return [
            Ranked(
                item=r.item,
                score=r.score,
                contributions={**{n: float(v[j]) for n, v in shares.items()}, **r.contributions},
            )
            for j, r in enumerate(ranked)
        ]

    def _uses_candidates(self) -> bool:
        return self.candidates is not None and self.context.n_items > self.candidates_above

    def _rank_candidates(
        self, profiles: Sequence[InterestProfile], k: int, diversity: float
    ) -> list[list[Ranked]]:
        """Candidate retrieval first, then the same scoring on those candidates only, in batches.

        ``candidate_batch`` profiles share one retrieval pass (their vector searches batched) and
        one signal computation over the union of their candidates and a fixed random sample of the
        catalogue (:meth:`_reference_items`); each profile's row is then cut to its own candidates.
        Each signal is standardised over the reference sample alone, which estimates the whole
        catalogue's mean and spread for every profile (over the candidates, the items most like the
        user, the scale differed from full ranking's). So a list does not depend on which other
        profiles share its batch, and with every item a candidate and in the sample it is exactly
        full ranking's.
        """
        assert self.candidates is not None
        out: list[list[Ranked]] = []
        for start in range(0, len(profiles), self.candidate_batch):
            batch = profiles[start : start + self.candidate_batch]
            found = self.candidates.retrieve_many(batch)
            cols, ref_pos = self._with_reference(np.concatenate(found) if found else np.zeros(0, np.int32))
            signals = self.signal_matrices(batch, items=cols, reference=ref_pos)
            scores, pinned = self._fused(batch, signals, cols)
            for row, (profile, cands) in enumerate(zip(batch, found, strict=True)):
                if not len(cands):
                    out.append([])
                    continue
                own = np.full(len(cols), -np.inf, dtype=np.float32)
                at = np.searchsorted(cols, cands)
                own[at] = scores[row, at]
                chosen = self._select(own, cols, profile, k, diversity, pinned[row])
                out.append(self._with_shares(chosen, signals, row, cols))
        return out

    def _with_reference(self, items: npt.NDArray[np.integer]) -> tuple[IntArray, IntArray]:
        """The sorted union of ``items`` and the reference sample, and the sample's positions in it."""
        reference = self._reference_items()
        cols = np.union1d(np.asarray(items, dtype=np.int32), reference).astype(np.int32)
        return cols, np.searchsorted(cols, reference).astype(np.int32)

    def _reference_items(self) -> IntArray:
        """:data:`REFERENCE_ITEMS` catalogue items, drawn once (seeded) per catalogue size."""
        n = self.context.n_items
        cached = self.__dict__.get("_reference")
        if cached is None or cached[0] != n:
            rng = np.random.default_rng(0)
            sample = np.sort(rng.choice(n, min(REFERENCE_ITEMS, n), replace=False)).astype(np.int32)
            cached = (n, sample)
            # A frozen dataclass: the cache is set through __dict__ (it is derived, not state).
            self.__dict__["_reference"] = cached
        out: IntArray = cached[1]
        return out

    def _select(
        self,
        row: FloatArray,
        cols: IntArray | None,
        profile: InterestProfile,
        k: int,
        diversity: float,
        pinned: npt.NDArray[np.bool_] | None = None,
    ) -> list[Ranked]:
        s = row.copy()
        items = np.arange(len(s), dtype=np.int32) if cols is None else cols
        s[np.isin(items, profile.seen_items)] = -np.inf
        if pinned is None or not pinned.any():
            return self._best(s, items, np.ones(len(s), dtype=bool), k, diversity)
        ranked = self._best(s, items, ~pinned, k, diversity)
        owed = self._best(s, items, pinned, k, diversity)
        return _merge_pinned(ranked, owed, k)

    def _best(
        self, s: FloatArray, items: IntArray, allowed: npt.NDArray[np.bool_], k: int, diversity: float
    ) -> list[Ranked]:
        """The top ``k`` of the ``allowed`` positions of ``s`` (MMR over the best ``max(5k, 50)``)."""
        s = np.where(allowed, s, -np.inf).astype(np.float32)
        n_pool = min(len(s), max(k * 5, 50))
        pool = np.argpartition(-s, n_pool - 1)[:n_pool] if n_pool < len(s) else np.arange(len(s))
        pool = pool[np.isfinite(s[pool])]
        # Ties break by item index, whether the pool came from the whole catalogue or candidates.
        pool = pool[np.lexsort((items[pool], -s[pool]))]
        chosen = mmr(s[pool], items[pool], self.context.item_vectors, k, diversity=diversity)
        score_of = dict(zip(items[pool].tolist(), s[pool].tolist(), strict=True))
        return [Ranked(item=int(i), score=float(score_of[int(i)])) for i in chosen]


def _merge_pinned(ranked: list[Ranked], owed: list[Ranked], k: int) -> list[Ranked]:
    """Merge the unpinned and pinned lists so pinned items hold at least :data:`PIN_SHARE` of every
    prefix; a pinned item placed above better unpinned ones is lifted to the best score left (its
    ``pin`` share), so scores stay non-increasing and every score still sums its shares."""
    out: list[Ranked] = []
    i = j = n_pinned = 0
    while len(out) < k and (i < len(ranked) or j < len(owed)):
        other = ranked[i] if i < len(ranked) else None
        pin = owed[j] if j < len(owed) else None
        due = n_pinned < PIN_SHARE * (len(out) + 1)
        take_pin = pin is not None and (other is None or due or pin.score >= other.score)
        if take_pin and pin is not None:
            best_left = max(pin.score, other.score if other is not None else -np.inf)
            lift = best_left - pin.score
            out.append(Ranked(item=pin.item, score=best_left, contributions={PIN: lift} if lift > 0 else {}))
            j += 1
            n_pinned += 1
        elif other is not None:
            out.append(other)
            i += 1
    return out


def cold_items(context: SignalContext) -> npt.NDArray[np.bool_]:
    """Items without training interactions in ``context`` (including items added after fitting)."""
    cold: npt.NDArray[np.bool_] = context.log_popularity <= 0
    return cold


def fit_ranker(
    context: SignalContext,
    profiles: Sequence[InterestProfile],
    targets: Sequence[npt.ArrayLike],
    exclude: sp.csr_matrix,
    *,
    signals: Sequence[str],
    l2: float,
    n_candidates: int,
    seed: int,
    batch_size: int = 256,
    fusion_bytes: int = FUSION_BYTES,
) -> Ranker:
    """A :class:`Ranker` whose fusion weights maximise the likelihood of held-out ``targets``.

    ``profiles[j]`` is built from what user ``j`` had before ``targets[j]``; ``exclude[j]`` marks
    the items removed from their ranking (seen). ``context`` must not have seen the targets.
    At most about ``fusion_bytes`` of signal matrices are held at once (see
    :func:`~interestlm.rank.fusion.fit_imputer_and_fusion`); the weights do not depend on it.
    """
    draft = Ranker(
        context=context, fusion=Fusion({}), imputer=Imputer(coefficients={}), signals=tuple(signals),
        batch_size=batch_size,
    )
    names = draft.signal_names()
    # Streams row batches of the signal matrices when all of them would pass fusion_bytes (issue 23).
    imputer, fusion = fit_imputer_and_fusion(
        lambda a, b: compute_signals(profiles[a:b], context, names=names, batch_size=batch_size),
        n_users=len(profiles),
        n_items=context.n_items,
        names=names,
        cold=cold_items(context),
        targets=list(targets),
        exclude=exclude,
        learner=FusionLearner(l2=l2, n_candidates=n_candidates, seed=seed),
        seed=seed,
        budget_bytes=fusion_bytes,
        align=batch_size,
    )
    return Ranker(context=context, fusion=fusion, imputer=imputer, signals=tuple(signals), batch_size=batch_size)
