"""MAGT hyper-parameters: :class:`MAGTConfig` (validated on construction) [MAGT]."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import torch

from ... import smoothing
from ..._validation import check_in_open_interval, check_int, check_positive
from ..mlp import ACTIVATIONS, resolve_dtype
from ..proposals import PROPOSALS, MAPProposal, Proposal, check_base, make_proposal

logger = logging.getLogger("magt_theory.models.magt")

LR_SCHEDULES = ("cosine", "constant")


# ---------------------------------------------------------------------------------- config
def _check_nonneg(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number >= 0; got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return v


@dataclass(frozen=True)
class MAGTConfig:
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

    t: float = 0.1
    latent_dim: int = 1
    width: int = 512
    depth: int = 5
    activation: str = "relu"
    base: str = "normal"
    n_anchors: int = 1024
    proposal: str = "mc"
    batch_size: int = 256
    steps: int = 2000
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    lr_min: float = 0.0
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float | None = None
    chunk_size: int = 256
    jitter: float = 0.0
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"
    map_zeta: float = 0.5
    map_tau: float = 0.1
    map_steps: int = 5
    map_init: int = 64
    map_mix: float = 0.0

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("t", check_in_open_interval(self.t, "t", 0.0, 1.0))
        put("latent_dim", check_int(self.latent_dim, "latent_dim", low=1))
        put("width", check_int(self.width, "width", low=1))
        put("depth", check_int(self.depth, "depth", low=0))
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}"
            )
        check_base(self.base)
        put("n_anchors", check_int(self.n_anchors, "n_anchors", low=1))
        if self.proposal not in PROPOSALS:
            raise ValueError(f"proposal must be one of {sorted(PROPOSALS)}; got {self.proposal!r}")
        put("batch_size", check_int(self.batch_size, "batch_size", low=1))
        put("steps", check_int(self.steps, "steps", low=0))
        put("lr", check_positive(self.lr, "lr"))
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}; got {self.lr_schedule!r}")
        lr_min = _check_nonneg(self.lr_min, "lr_min")
        if lr_min > self.lr:
            raise ValueError(f"lr_min must be in [0, lr={self.lr}]; got {lr_min}")
        put("lr_min", lr_min)
        try:
            b1, b2 = (float(b) for b in self.betas)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"betas must be a pair of numbers in [0, 1); got {self.betas!r}"
            ) from exc
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be a pair of numbers in [0, 1); got {self.betas!r}")
        put("betas", (b1, b2))
        put("weight_decay", _check_nonneg(self.weight_decay, "weight_decay"))
        if self.grad_clip is not None:
            put("grad_clip", check_positive(self.grad_clip, "grad_clip"))
        put("chunk_size", check_int(self.chunk_size, "chunk_size", low=1))
        put("jitter", _check_nonneg(self.jitter, "jitter"))
        put("seed", check_int(self.seed, "seed", low=0))
        resolve_dtype(self.dtype)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda'; got {self.device!r}")
        try:
            torch.device(self.device)
        except RuntimeError as exc:
            raise ValueError(
                f"device must be a valid torch device string; got {self.device!r}"
            ) from exc
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

    def replace(self, **changes) -> MAGTConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MAGTConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(
                f"unknown MAGTConfig keys {sorted(unknown)}; accepted: {sorted(names)}"
            )
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)
