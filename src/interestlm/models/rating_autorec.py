"""I-AutoRec (Sedhain et al. 2015): an item-based autoencoder over the rating matrix.

Each item's column of ratings (one entry per user, zero where unrated) is encoded to ``hidden``
sigmoid units and decoded back; only observed entries count in the squared error, with L2 on
both weight matrices. The prediction for (u, i) is entry u of item i's reconstruction. Items or
users without training ratings get the training mean. torch is imported only when fitted.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt

from interestlm.core.types import FloatArray, IntArray
from interestlm.models.rating import Ratings, clip

#: The most item × user cells AutoRec fits (its dense rating, mask and output matrices are each
#: this many float32s: 30M cells are 120 MB apiece); a stack leaves AutoRec out above it.
MAX_CELLS = 30_000_000


class AutoRec:
    """Item-based AutoRec, fitted by Adam on mini-batches of items (CPU, ``threads`` threads)."""

    def __init__(
        self,
        *,
        hidden: int = 500,
        reg: float = 100.0,
        n_epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 256,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.hidden = hidden
        self.reg = reg
        self.n_epochs = n_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.threads = threads

    def fit(self, train: Ratings) -> Self:
        """Train the autoencoder; keeps the reconstructed item × user matrix for prediction."""
        import torch

        torch.set_num_threads(self.threads)
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        n_items, n_users = train.n_items, train.n_users
        ratings = torch.zeros(n_items, n_users)
        mask = torch.zeros(n_items, n_users)
        items = torch.as_tensor(train.item.astype(np.int64))
        users = torch.as_tensor(train.user.astype(np.int64))
        ratings[items, users] = torch.as_tensor(train.rating, dtype=torch.float32)
        mask[items, users] = 1.0
        encoder = torch.nn.Linear(n_users, self.hidden)
        decoder = torch.nn.Linear(self.hidden, n_users)
        params: list[Any] = [*encoder.parameters(), *decoder.parameters()]
        optimiser = torch.optim.Adam(params, lr=self.lr)
        rated_items = torch.nonzero(mask.sum(dim=1) > 0).flatten()
        share = self.batch_size / max(len(rated_items), 1)
        for _ in range(self.n_epochs):
            order = rated_items[torch.randperm(len(rated_items), generator=gen)]
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                out = decoder(torch.sigmoid(encoder(ratings[rows])))
                error = ((out - ratings[rows]) * mask[rows]).pow(2).sum()
                penalty = 0.5 * self.reg * share * (encoder.weight.pow(2).sum() + decoder.weight.pow(2).sum())
                optimiser.zero_grad()
                (error + penalty).backward()
                optimiser.step()
        with torch.no_grad():
            self.reconstruction_ = decoder(torch.sigmoid(encoder(ratings))).numpy().astype(np.float32)
        self.mean_ = train.mean()
        self.item_rated_ = mask.sum(dim=1).numpy() > 0
        self.user_rated_ = mask.sum(dim=0).numpy() > 0
        self.scale_ = train.scale
        return self

    def affordable(self, train: Ratings) -> bool:
        """Whether the dense item × user matrices fit: at most :data:`MAX_CELLS` cells (a stack
        leaves a member out that does not)."""
        return train.n_items * train.n_users <= MAX_CELLS

    def decompose(self, users: IntArray, items: IntArray) -> dict[str, npt.NDArray[np.float64]]:
        """The unclipped estimate as ``mean`` and ``autoencoder`` (the reconstruction's offset from
        the mean; 0 where the user or item had no ratings)."""
        users = np.asarray(users)
        items = np.asarray(items)
        offset = np.zeros(len(users))
        ok = self._known(users, items)
        offset[ok] = self.reconstruction_[items[ok], users[ok]] - self.mean_
        return {"mean": np.full(len(users), self.mean_), "autoencoder": offset}

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Reconstructed ratings, the training mean where the user or item had no ratings."""
        users = np.asarray(users)
        items = np.asarray(items)
        out = np.full(len(users), self.mean_)
        ok = self._known(users, items)
        out[ok] = self.reconstruction_[items[ok], users[ok]]
        return clip(out, self.scale_)

    def _known(self, users: npt.NDArray[np.integer], items: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
        ok = (items >= 0) & (items < len(self.item_rated_)) & (users >= 0) & (users < len(self.user_rated_))
        ok[ok] &= self.item_rated_[items[ok]] & self.user_rated_[users[ok]]
        return ok
