"""Torch generators.

* :mod:`~magt_theory.models.mlp` -- the MLP generator ``h_theta: R^d -> R^D``.
* :mod:`~magt_theory.models.proposals` -- latent anchor proposals (MC, QMC, MAP/Laplace).
* :mod:`~magt_theory.models.magt` -- MAGT training with the exact chunked gradient, one-step
  sampling, area-formula and smoothed log densities, t selection, persistence [MAGT] (a
  package of private modules, every name re-exported from ``models.magt``).
* :mod:`~magt_theory.models.diffusion` -- VP DDIM / DDPM / DPM-Solver++ samplers, oracle and
  learned scores.
* :mod:`~magt_theory.models.flow_matching` -- conditional flow matching (linear path).
* :mod:`~magt_theory.models.chargen` -- characteristic generator [CharGen].
* :mod:`~magt_theory.models.proximal_flow` -- W1+W2 proximal generative flow [W1W2].
* :mod:`~magt_theory.models.wgan` -- WGAN-GP baseline.
* :mod:`~magt_theory.models.estimators` -- :class:`DiffusionModel`, :class:`FlowMatching`
  (the diffusion and flow-matching baselines behind the generator protocol).
* :mod:`~magt_theory.models.integrators` -- every ODE/SDE rollout; solvers declare their order.

Every generator (``MAGT``, ``DiffusionModel``, ``FlowMatching``, ``CharGen``, ``ProximalFlow``,
``WGANGP``) implements the protocol of :mod:`~magt_theory.models._protocol`: a frozen config with
declared ranges (``replace``, ``to_dict``/``from_dict``), ``fit(X) -> self``, ``sample(n, seed)``,
``nfe``, a tidy ``history_`` DataFrame and versioned, checksummed ``save``/``load``.
"""

from __future__ import annotations

from .magt import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAGT,
    MAGTConfig,
    area_log_density,
    magt_loss_and_grad,
    select_t,
    smoothed_log_density,
    snis_mean,
    snis_score,
)
from . import chargen, diffusion, flow_matching, integrators, proximal_flow, wgan
from ._protocol import GenerativeModel, ModelConfig
from .chargen import CharGen, CharGenConfig
from .estimators import DiffusionConfig, DiffusionModel, FlowMatching, FlowMatchingConfig
from .proximal_flow import ProximalFlow, ProximalFlowConfig
from .wgan import WGANGP, WGANGPConfig
from .mlp import ACTIVATIONS, MLP
from .proposals import (
    BASES,
    PROPOSALS,
    AnchorSet,
    MAPProposal,
    MCProposal,
    Proposal,
    QMCProposal,
    make_proposal,
)

__all__ = [
    "ACTIVATIONS",
    "BASES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAGT",
    "MLP",
    "PROPOSALS",
    "AnchorSet",
    "CharGen",
    "CharGenConfig",
    "DiffusionConfig",
    "DiffusionModel",
    "FlowMatching",
    "FlowMatchingConfig",
    "GenerativeModel",
    "ModelConfig",
    "ProximalFlow",
    "ProximalFlowConfig",
    "WGANGP",
    "WGANGPConfig",
    "MAGTConfig",
    "MAPProposal",
    "MCProposal",
    "Proposal",
    "QMCProposal",
    "area_log_density",
    "magt_loss_and_grad",
    "make_proposal",
    "select_t",
    "smoothed_log_density",
    "snis_mean",
    "snis_score",
]
