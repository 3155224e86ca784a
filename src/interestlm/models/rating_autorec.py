"""I-AutoRec (Sedhain et al. 2015): an item-based autoencoder over the rating matrix.

Each item's column of ratings (one entry per user, zero where unrated) is encoded to ``hidden``
sigmoid units and decoded back; only observed entries count in the squared error, with L2 on
both weight matrices. The prediction for (u, i) is entry u of item i's reconstruction. Items or
users without training ratings get the training mean. torch is imported only when fitted.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from interestlm.core.types import FloatArray, IntArray
from interestlm.models.rating import Ratings, clip


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

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """Reconstructed ratings, the training mean where the user or item had no ratings."""
        users = np.asarray(users)
        items = np.asarray(items)
        out = np.full(len(users), self.mean_)
        ok = (items >= 0) & (items < len(self.item_rated_)) & (users >= 0) & (users < len(self.user_rated_))
        ok[ok] &= self.item_rated_[items[ok]] & self.user_rated_[users[ok]]
        out[ok] = self.reconstruction_[items[ok], users[ok]]
        return clip(out, self.scale_)
