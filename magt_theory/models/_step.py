"""One optimiser step shared by every generator's training loop (score, velocity, maps, GANs)."""

from __future__ import annotations

import torch


def optimizer_step(loss: torch.Tensor, opt, sched=None, losses: list | None = None,
                   what: str = "model") -> None:
    """Check ``loss`` is finite, step ``opt`` (and ``sched``), record the loss in ``losses``.

    Raises ``FloatingPointError`` naming ``what`` on a non-finite loss, before any update.
    ``sched`` and ``losses`` are optional (None: no scheduler, nothing recorded).
    """
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{what} training produced a non-finite loss")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    if losses is not None:
        losses.append(float(loss.detach()))
