"""Hyper-parameters of the W1⊕W2 proximal flow and its ablations [W1W2].

Part of :mod:`magt_theory.models.proximal_flow` (re-exported there; the model and its
optimality system are described in its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._protocol import ModelConfig, activation_field, choice, dtype_field, integer, positive

#: variant -> (kinetic term on, Lipschitz penalty on)
VARIANTS = {"w1w2": (True, True), "w1": (False, True), "w2": (True, False)}


@dataclass(frozen=True)
class ProximalFlowConfig(ModelConfig):
    """Hyper-parameters of :class:`ProximalFlow` (validated on construction).

    Parameters
    ----------
    variant : {"w1w2", "w1", "w2"}
        Both proximals; W1 only (no kinetic term); W2 only (no Lipschitz penalty).
    lam : float > 0
        Kinetic weight ``lambda`` (also the scale of ``U``).
    L : float > 0
        Lipschitz level of the discriminator.
    T : float > 0
        Flow time.
    n_steps : int
        Euler steps ``K`` during training (and the default at sampling).
    gp_weight : float > 0
        Weight of the one-sided gradient penalty (ignored by ``"w2"``).
    width, depth, activation
        Both MLPs (potential ``N_theta(x, t)`` and discriminator ``phi(x)``); the potential
        needs a smooth activation (``grad U`` and ``d_t U`` are used).
    steps : int
        Generator updates.
    critic_steps : int
        Discriminator updates per generator update (on the end points of the generator's
        current rollout, detached, with fresh data batches).
    lr : float
        Adam learning rate of both networks; ``betas = (0.5, 0.9)``.
    batch_size : int
    log_every : int
        History stride.
    seed : int
    dtype : {"float32", "float64"}
    """

    variant: str = choice("w1w2", VARIANTS)
    lam: float = positive(0.05)
    L: float = positive(1.0)
    T: float = positive(1.0)
    n_steps: int = integer(10)
    gp_weight: float = positive(10.0)
    width: int = integer(128)
    depth: int = integer(3, low=0)
    activation: str = activation_field("silu")
    steps: int = integer(1000, low=0)
    critic_steps: int = integer(2)
    lr: float = positive(1e-3)
    batch_size: int = integer(256, low=2)
    log_every: int = integer(25)
    seed: int = integer(0, low=0)
    dtype: str = dtype_field("float32")

    def _validate(self):
        if self.activation == "relu":
            raise ValueError("activation must be smooth for the potential (d_t U, grad U); "
                             "choose one of silu, softplus, tanh, gelu, elu")

    @property
    def kinetic(self) -> bool:
        return VARIANTS[self.variant][0]

    @property
    def lipschitz(self) -> bool:
        return VARIANTS[self.variant][1]
