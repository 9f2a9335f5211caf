"""One optimiser step shared by the regression-trained networks (score, velocity)."""

from __future__ import annotations

import torch


def optimizer_step(loss: torch.Tensor, opt, sched, losses: list, what: str) -> None:
    """Check ``loss`` is finite, step ``opt`` and ``sched``, and record the loss in ``losses``.

    Raises ``FloatingPointError`` naming ``what`` on a non-finite loss, before any update.
    """
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} training produced a non-finite loss")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    losses.append(float(loss.detach()))
