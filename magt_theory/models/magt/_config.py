"""MAGT hyper-parameters: :class:`MAGTConfig` (validated on construction) [MAGT]."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import torch

from ... import smoothing
from .._protocol import (
    ModelConfig,
    activation_field,
    betas_field,
    checked,
    choice,
    dtype_field,
    integer,
    nonneg,
    open_interval,
    positive,
)
from ..proposals import PROPOSALS, MAPProposal, Proposal, check_base, make_proposal

logger = logging.getLogger("magt_theory.models.magt")

LR_SCHEDULES = ("cosine", "constant")


def _check_device(value, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string such as 'cpu' or 'cuda'; got {value!r}")
    try:
        torch.device(value)
    except RuntimeError as exc:
        raise ValueError(f"{name} must be a valid torch device string; got {value!r}") from exc
    return value


def _check_base(value, name: str) -> str:
    check_base(value)
    return value


@dataclass(frozen=True)
class MAGTConfig(ModelConfig):
    """Hyper-parameters of one MAGT training run (validated on construction).

    Parameters
    ----------
    t : float
        VP smoothing level in (0, 1): ``alpha = sqrt(1-t)``, ``sigma = sqrt(t)``.
    latent_dim : int
        Latent dimension ``d >= 1`` (MAGT: the intrinsic dimension).
    width, depth, activation : int, int, str
        Generator MLP (MAGT: 512, 5, ``"relu"``); ``width >= 1``, ``depth >= 0``.
    base : {"normal", "uniform"}
        Base law ``pi``.
    n_anchors : int
        ``K >= 1`` latent anchors per step (MAGT: 1024).
    proposal : {"mc", "qmc", "map"}
        Anchor proposal, see :mod:`magt_theory.models.proposals`.
    batch_size : int
        Queries ``B >= 1`` per step.
    steps : int
        Optimiser steps (>= 0; 0 keeps the initialisation).
    lr, lr_schedule, lr_min : float, str, float
        Adam learning rate (> 0); ``"cosine"`` decays from ``lr`` to ``lr_min`` in ``steps``,
        ``"constant"`` keeps ``lr``; ``0 <= lr_min <= lr``.
    betas, weight_decay : (float, float), float
        Adam parameters; betas in [0, 1), weight decay >= 0.
    grad_clip : float or None
        Clip the global gradient norm at this value (> 0) if given.
    chunk_size : int
        ``K_c >= 1``: anchors per autograd chunk (bounds the memory of the backward pass).
    jitter : float
        ``s0 >= 0``: fresh ``N(0, s0^2 I)`` noise added to every training point drawn into a
        batch (trains on ``mu * N(0, s0^2 I)``, the infinite-data version of a jittered set).
    seed : int
        Seed (>= 0) of the initialisation and of every random draw; CPU runs are deterministic.
    dtype : {"float32", "float64"}
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"`` (determinism is guaranteed on CPU only).
    map_zeta, map_tau, map_steps, map_init, map_mix
        MAP/Laplace proposal parameters (:class:`~magt_theory.models.proposals.MAPProposal`).
    """

    t: float = open_interval(0.1, 0.0, 1.0)
    latent_dim: int = integer(1)
    width: int = integer(512)
    depth: int = integer(5, low=0)
    activation: str = activation_field("relu")
    base: str = checked("normal", _check_base)
    n_anchors: int = integer(1024)
    proposal: str = choice("mc", PROPOSALS)
    batch_size: int = integer(256)
    steps: int = integer(2000, low=0)
    lr: float = positive(1e-3)
    lr_schedule: str = choice("cosine", LR_SCHEDULES)
    lr_min: float = nonneg(0.0)
    betas: tuple = betas_field((0.9, 0.999))
    weight_decay: float = nonneg(0.0)
    grad_clip: float | None = positive(None, optional=True)
    chunk_size: int = integer(256)
    jitter: float = nonneg(0.0)
    seed: int = integer(0, low=0)
    dtype: str = dtype_field("float32")
    device: str = checked("cpu", _check_device)
    map_zeta: float = 0.5
    map_tau: float = 0.1
    map_steps: int = 5
    map_init: int = 64
    map_mix: float = 0.0

    def _validate(self):
        if self.lr_min > self.lr:
            raise ValueError(f"lr_min must be in [0, lr={self.lr}]; got {self.lr_min}")
        put = functools.partial(object.__setattr__, self)
        # validate the map_* parameters whatever the proposal (a config is checked as a whole)
        mp = MAPProposal(
            zeta=self.map_zeta,
            tau=self.map_tau,
            steps=self.map_steps,
            n_init=self.map_init,
            mix=self.map_mix,
        )
        for name in ("zeta", "tau", "steps", "n_init", "mix"):
            put("map_init" if name == "n_init" else f"map_{name}", getattr(mp, name))
        if self.proposal == "qmc" and self.n_anchors & (self.n_anchors - 1):
            logger.warning(
                "n_anchors=%d is not a power of 2: Sobol points lose their balance", self.n_anchors
            )

    @property
    def alpha(self) -> float:
        return smoothing.vp(self.t)[0]

    @property
    def sigma(self) -> float:
        return smoothing.vp(self.t)[1]

    def make_proposal(self) -> Proposal:
        return make_proposal(
            self.proposal,
            zeta=self.map_zeta,
            tau=self.map_tau,
            steps=self.map_steps,
            n_init=self.map_init,
            mix=self.map_mix,
        )
