"""Data-parallel training of a sequence model: one share of every batch per process, gradients
averaged by ``torch.nn.parallel.DistributedDataParallel`` (DDP).

:class:`DataParallel` is what :meth:`SequentialModel._fit <interestlm.models.transformer.SequentialModel>`
reads when it is set (``model.parallel``): every process draws the same epoch order (the same seed),
trains on rows ``rank::world`` of each batch, and steps the optimizer on the averaged gradient, so
the replicas stay identical and validation (run by each on its full copy) stops them together.
The process group must exist (Ray Train's ``TorchTrainer`` starts one; ``gloo`` on CPUs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

#: One batch's loss: ``(inputs, labels, generator, aux) -> loss``.
LossFn = Callable[..., torch.Tensor]


class _LossModule(nn.Module):
    """The net as DDP sees it: its forward is a whole batch's loss (the loss may run the net more
    than once, e.g. for the contrastive term, which DDP allows inside one forward)."""

    def __init__(self, loss: LossFn, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self._loss = loss

    def forward(self, *args: Any) -> torch.Tensor:
        """The batch's loss."""
        return self._loss(*args)


@dataclass(frozen=True, kw_only=True)
class DataParallel:
    """This process's place among ``world`` training processes."""

    rank: int
    world: int

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is not in [0, {self.world})")

    def rows(self, batch: torch.Tensor) -> torch.Tensor | None:
        """This process's share of a batch's rows; None when the batch is too small to give every
        process one (each skips it, so they stay in step)."""
        if len(batch) < self.world:
            return None
        return batch[self.rank :: self.world]

    def wrap(self, loss: LossFn, net: nn.Module) -> LossFn:
        """``loss`` run through DDP over ``net``: backward averages the gradients of every process.
        Parameters a configuration leaves unused (heads that are off) get no gradient anywhere;
        buffers (item content) are built alike everywhere, so they are not re-sent each step."""
        module = DistributedDataParallel(_LossModule(loss, net), find_unused_parameters=True, broadcast_buffers=False)

        def step(*args: Any) -> torch.Tensor:
            out: torch.Tensor = module(*args)
            return out

        return step

