"""Matrix-factorisation baselines from the ``implicit`` library (CPU): ALS and BPR.

Both are fitted on the binary training matrix. Scoring uses the history it is given, never
the training rows behind the user's id, so a test-stage history that holds the validation item
is used in full:

* ALS solves each user's factor from the history against the fitted item factors: the exact
  user step of ALS itself (``implicit``'s ``recalculate_user``).
* BPR has no closed-form user step. A history's user vector is the mean of its items' factors
  (the bias dimension, which BPR keeps as the last factor, is then set to 1 as BPR does for
  every user); an empty history is ranked by the item biases alone. With
  ``user_vectors="train"`` the vectors learned during fitting are used instead; that ignores
  history items newer than the training data and only works for users seen in training. On
  leave-one-out ml-latest-small and Beauty the history vectors score at least as well
  (test NDCG@10 0.029 vs 0.028 and 0.0144 vs 0.0137).

``implicit`` warns (and slows down) when OpenBLAS runs its own thread pool under its threads,
so fitting runs with BLAS limited to one thread.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from interestlm.core.protocol import EvalTask, TrainData, history_matrix
from interestlm.core.types import FloatArray, IntArray


class ALS:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via ``implicit.cpu.als``.

    A positive cell has confidence ``alpha`` (``implicit`` treats every other cell as a zero
    with confidence 1); ``alpha`` and ``regularization`` default to ``implicit``'s own values.
    ALS is deterministic for a given ``seed`` whatever ``num_threads`` is, because each user's
    and item's solve is independent of the others.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 0,
        num_threads: int = 2,
        show_progress: bool = False,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.num_threads = num_threads
        self.show_progress = show_progress

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Factorise the training matrix; sets ``model_`` and ``item_factors_``."""
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=self.num_threads,
                random_state=self.seed,
            )
            model.fit(train.matrix(), show_progress=self.show_progress)
        self.model_: Any = model
        self.item_factors_: FloatArray = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def user_factors(self, histories: list[IntArray]) -> FloatArray:
        """The ALS least-squares user factor of each history (zeros for an empty history)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("ALS.score called before fit")
        h = history_matrix(histories, self.item_factors_.shape[0])
        if h.shape[0] == 0:
            return np.zeros((0, self.item_factors_.shape[1]), dtype=np.float32)
        return np.asarray(self.model_.recalculate_user(np.arange(h.shape[0]), h), dtype=np.float32)

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Dot products of each history's solved user factor with every item factor."""
        return np.asarray(self.user_factors(histories) @ self.item_factors_.T, dtype=np.float32)


class BPR:
    """Bayesian Personalised Ranking (Rendle et al. 2009) via ``implicit.cpu.bpr``.

    ``implicit``'s BPR is Hogwild SGD: with more than one thread the result depends on thread
    timing, so ``num_threads`` defaults to 1 to keep a ``seed`` reproducible.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        user_vectors: Literal["history", "train"] = "history",
        seed: int = 0,
        num_threads: int = 1,
        show_progress: bool = False,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.user_vectors = user_vectors
        self.seed = seed
        self.num_threads = num_threads
        self.show_progress = show_progress

    def fit(self, train: TrainData, *, valid: EvalTask | None = None) -> Self:
        """Learn ``item_factors_`` and ``user_factors_`` (last column: item bias / constant 1)."""
        if self.user_vectors not in ("history", "train"):
            raise ValueError(f"BPR.user_vectors must be 'history' or 'train', got {self.user_vectors!r}")
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                num_threads=self.num_threads,
                random_state=self.seed,
            )
            model.fit(train.matrix(), show_progress=self.show_progress)
        self.item_factors_: FloatArray = np.asarray(model.item_factors, dtype=np.float32)
        self.user_factors_: FloatArray = np.asarray(model.user_factors, dtype=np.float32)
        return self

    def user_factors(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """User vectors for scoring, per ``user_vectors`` (see the module docstring)."""
        if not hasattr(self, "item_factors_"):
            raise RuntimeError("BPR.score called before fit")
        if self.user_vectors == "train":
            users = np.asarray(users)
            if len(users) and (users.min() < 0 or users.max() >= len(self.user_factors_)):
                raise ValueError(f"BPR(user_vectors='train') only scores the {len(self.user_factors_)} training users")
            return self.user_factors_[users]
        return _mean_item_factors(history_matrix(histories, self.item_factors_.shape[0]), self.item_factors_)

    def score(self, users: IntArray, histories: list[IntArray]) -> FloatArray:
        """Dot products of each user vector with every item factor (bias included)."""
        return np.asarray(self.user_factors(users, histories) @ self.item_factors_.T, dtype=np.float32)


def _mean_item_factors(h: sp.csr_matrix, item_factors: npt.NDArray[np.float32]) -> FloatArray:
    """Row-mean of the history items' factors, with the bias slot (last column) set to 1."""
    counts = np.asarray(h.sum(axis=1), dtype=np.float32).ravel()
    vectors = np.asarray(h @ item_factors, dtype=np.float32)
    vectors /= np.maximum(counts, 1.0)[:, None]
    vectors[:, -1] = 1.0
    return vectors
