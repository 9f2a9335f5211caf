"""Pull-back: Wasserstein error of a perturbed generator against its smoothed Fisher divergence.

MAGT Theorem 1: in the reach tube,
``W2(P_h*, P_h) <= C_PB(t) sqrt(E_MAG(t))`` with ``E_MAG = t^2/(1-t) J(p_t || p_t^h)`` and
``C_PB(t) = O(1/t)``; the LSI-only step ``W2(p_t, p_t^h) <= C_LSI(t) sqrt(J)`` has the explicit
constant ``C_LSI(t) = ((1-t) M^2 + t) / min(C_LSI(pi), 1)`` (``M`` the largest singular value of
``J_h``; ``C_LSI(pi) = 1`` for a standard normal base) [MAGT].

``C_PB`` is a supremum over generators, and errors along the manifold and across it behave very
differently as ``t -> 0``, so the exact generator ``h*`` is perturbed by three families
(``direction`` column), each scaled so that the RMS ambient displacement ``|h - h*|`` is
``eps`` to first order:

- ``tangent``: a tangential reparametrisation ``h(u) = h*(u + eps c f(u))`` (``f`` a smooth
  bounded latent field): ``h`` maps onto ``M`` and only the density along ``M`` changes;
- ``normal``: ``h(u) = h*(u) + eps P_N(h*(u)) delta(u)``, the normal part of a smooth ambient
  field ``delta`` (:class:`Perturbation`);
- ``mixed``: ``h(u) = h*(u) + eps delta(u)`` (tangent and normal parts).

Latents, anchors and noise are drawn afresh for every ``t`` (the generator stream is seeded by
``(seed, t)``), so the W2 rows at different ``t`` are independent replicates. Per
``(direction, eps)`` the rows are

- ``w2``: exact W2 between ``h*(u_i)`` and ``h(u_i)`` (common latents; exact OT);
- ``w2_smoothed``: exact W2 between the smoothed laws (common latents and noise);
- ``fisher_J``: ``E_{y ~ p_t} |s~_t(y) - s~_t^h(y)|^2`` with both SNIS scores over the same
  ``K`` latent anchors (common random numbers: the anchor noise cancels to first order;
  ``anchor_floor`` reports ``E|s~_t - s_t|^2`` against the closed form for reference);
- ``e_mag``, ``ratio_w2_sqrtJ``, ``ratio_w2_sqrt_emag`` (``W2 / sqrt(E_MAG)``, whose largest
  value over the families estimates ``C_PB(t)``: rows ``c_pb`` with an empty ``direction``),
  ``lsi_rhs`` ``= C_LSI(t) sqrt(J)``, ``lsi_ratio`` ``= w2_smoothed / lsi_rhs`` and
  ``max_singular_value``.

Negative controls (``control``; each is a deliberately wrong ingredient that a test shows
turning a verdict row ``inconsistent``):

- ``"fisher_denoiser"``: the Fisher divergence replaced by the posterior-mean (denoiser) gap
  ``E|m~_t - m~_t^h|^2`` (a score/denoiser units slip: it is ``sigma^4/alpha^2 J``);
- ``"no_crn"``: ``J`` measured against the closed-form score instead of the same-anchor SNIS
  score, so the anchor noise no longer cancels (a floor in ``eps``);
- ``"independent_latents"``: ``w2`` between ``h*(u)`` and ``h(u')`` with independent latents
  (the two-sample noise floor hides the ``eps`` dependence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _xp, manifolds, smoothing
from ..anchors import snis
from ..metrics import wasserstein
from ._common import rows
from ._spec import Experiment, param

NAME = "pullback"
FAMILIES = ("tangent", "normal", "mixed")
CONTROLS = ("none", "fisher_denoiser", "no_crn", "independent_latents")
@dataclass(frozen=True)
class Params:
    """Parameters of one ``pullback`` sweep point (defaults; schema in the field metadata)."""

    manifold: str = param('circle', 'manifold')
    D: int | None = param(None, 'D')
    t: float = param(0.05, 't')
    eps: list[float] = param([0.01, 0.03, 0.1], 'eps_list')
    families: list[str] = param(list(FAMILIES), {"type": "array", "minItems": 1,
                                                  "uniqueItems": True,
                                                  "items": {"enum": list(FAMILIES)}})
    n_w2: int = param(1500, 'n')
    n_fisher: int = param(1000, 'n')
    K: int = param(8192, 'K')
    n_modes: int = param(3, 'posint')
    control: str = param('none', {"enum": list(CONTROLS)})
    seed: int = param(0, 'seed')


SPEC = Experiment(
    NAME, Params,
    claims=(
        # Theorem 1: W2 / sqrt(E_MAG) <= C_PB(t) = O(1/t) as t -> 0, per perturbation family
        # (ratio eps-free in linear response: averaged over eps). Band 0.1: the 1/(1-t) factor
        # and the anchor noise of J bend a t in [0.01, 0.3] fit by less than 0.1.
        dict(quantity="ratio_w2_sqrt_emag", swept="t", bound="magt_pullback_ratio",
             filter={"direction": "tangent"}, average_over=("eps",), band=0.1,
             control="fisher_denoiser"),
        # the normal and mixed families: the denoiser-units control only shifts their slope to
        # about -1, the edge of what the bound allows, so no control is shown failing them:
        # diagnostics (their slope says how far from the 1/t growth they are)
        dict(quantity="ratio_w2_sqrt_emag", swept="t", bound="magt_pullback_ratio",
             filter={"direction": ["normal", "mixed"]}, group_by=("direction",),
             average_over=("eps",), band=0.1),
        # C_PB(t) estimated as the largest ratio over the families (same band and control)
        dict(quantity="c_pb", swept="t", bound="magt_pullback_ratio", average_over=("eps",),
             band=0.1, control="fisher_denoiser", error_direction=""),
        # eps-linearity: W2 ~ eps and J ~ eps^2 per family (t values are independent
        # replicates). Bands: 0.05 for W2 (second-order terms are eps^2/eps = 0.1 relative at
        # the largest eps, a slope bias below 0.05); 0.1 for J (anchor noise left after the
        # common-random-number correction).
        dict(quantity="w2", swept="eps", bound="pullback_w2_eps", group_by=("direction",),
             average_over=("t", "sigma", "alpha"), band=0.05, control="independent_latents"),
        dict(quantity="fisher_J", swept="eps", bound="pullback_fisher_eps",
             filter={"direction": "tangent"}, average_over=("t", "sigma", "alpha"), band=0.1,
             control="no_crn"),
        # (normal and mixed: J is large there, the anchor floor of no_crn does not show, and
        # no other control is shown failing them: diagnostics)
        dict(quantity="fisher_J", swept="eps", bound="pullback_fisher_eps",
             filter={"direction": ["normal", "mixed"]}, group_by=("direction",),
             average_over=("t", "sigma", "alpha"), band=0.1),
        "lsi_inequality_rows",
    ),
    figures={
        "pullback_ratio": "fig_pullback",
    },
)
#: every parameter with its default (``SPEC.defaults()``)
DEFAULTS = SPEC.defaults()

__all__ = ["CONTROLS", "DEFAULTS", "FAMILIES", "NAME", "Perturbation", "run"]

_NORM_N = 4096  # fixed latent sample on which each family is normalised (seeded, shared)


class Perturbation:
    """Fixed smooth bounded field ``delta(u) = B f(Phi(u))`` on the latent space.

    ``f`` stacks ``sin/cos(2 pi j v_i)`` for ``j = 1..n_modes`` over the coordinates of
    ``v = Phi(u)``; ``B`` (``out_dim x 2 k n_modes``) is Gaussian with a fixed seed, scaled so
    that ``E|delta(U)|^2 = 1`` exactly (the features are orthogonal with mean square 1/2).
    """

    def __init__(self, latent_dim: int, ambient_dim: int, n_modes: int = 3, seed: int = 12345):
        n_feat = 2 * latent_dim * n_modes
        B = np.random.default_rng(seed).standard_normal((ambient_dim, n_feat))
        self.B = B / np.sqrt(0.5 * np.sum(B * B))
        self.freqs = 2 * np.pi * np.arange(1, n_modes + 1)

    def __call__(self, u):
        import torch

        xp = _xp.namespace(u)
        v = _xp.ndtr(u)
        freqs = self.freqs if xp is np else torch.as_tensor(self.freqs, dtype=u.dtype)
        arg = v[..., :, None] * freqs  # (n, k, modes)
        feats = xp.concatenate([xp.sin(arg), xp.cos(arg)], -1).reshape(u.shape[0], -1)
        B = self.B if xp is np else torch.as_tensor(self.B, dtype=u.dtype)
        return feats @ B.T


def _normal_part(M, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``(I - T T^T) v`` with ``T`` the tangent basis at ``x`` (on ``M``)."""
    T = M.tangent_basis(x)
    return v - np.einsum("nDd,nd->nD", T, np.einsum("nDd,nD->nd", T, v))


def make_family(M, family: str, n_modes: int = 3):
    """``eps -> h_eps`` for one perturbation family, normalised to RMS displacement ``eps``.

    The scale is fixed on a seeded latent sample: for ``tangent`` by finite differences of
    ``h*(u + s f(u))`` (first order), for the others exactly.
    """
    k, D = M.generator_latent_dim, M.ambient_dim
    u0 = np.random.default_rng(2468).standard_normal((_NORM_N, k))
    x0 = M.generator(u0)
    if family == "tangent":
        f = Perturbation(k, k, n_modes, seed=13579)
        step = 1e-6
        rms = np.sqrt(np.mean(np.sum((M.generator(u0 + step * f(u0)) - x0) ** 2, 1))) / step
        c = 1.0 / rms
        return lambda eps: (lambda u: M.generator(u + eps * c * f(u)))
    delta = Perturbation(k, D, n_modes)
    if family == "normal":
        rms = np.sqrt(np.mean(np.sum(_normal_part(M, x0, delta(u0)) ** 2, 1)))

        def field(u):
            x = M.generator(u)
            return x, _normal_part(M, x, delta(u)) / rms
    elif family == "mixed":
        rms = np.sqrt(np.mean(np.sum(delta(u0) ** 2, 1)))

        def field(u):
            return M.generator(u), delta(u) / rms
    else:
        raise ValueError(f"families must be drawn from {FAMILIES}; got {family!r}")

    def at(eps):
        def h(u):
            x, v = field(u)
            return x + eps * v
        return h
    return at


def _max_singular_value(h, u: np.ndarray, step: float = 1e-6) -> float:
    """Largest singular value of ``J_h`` over the latent points ``u`` (central differences)."""
    k = u.shape[1]
    cols = [(h(u + step * e) - h(u - step * e)) / (2 * step) for e in np.eye(k)]
    jac = np.stack(cols, axis=-1)  # (n, D, k)
    return float(np.linalg.norm(jac, ord=2, axis=(1, 2)).max())


def run(params: dict):
    """Measure W2, Fisher divergence and the pull-back ratios per family and ``eps``."""
    p = SPEC.resolve(params)
    fams = list(p["families"])
    eps_list = [float(e) for e in p["eps"]]
    M = manifolds.make(p["manifold"], ambient_dim=p["D"], seed=0)
    if not M.has_generator:
        raise ValueError(f"manifold must have an exact generator h*; {p['manifold']!r} has none")
    k, D = M.generator_latent_dim, M.ambient_dim
    t = float(p["t"])
    alpha, sigma = smoothing.vp(t)
    ctrl = p["control"]
    # fresh latents, anchors and noise for every (seed, t): the rows at different t are
    # independent replicates
    rng = np.random.default_rng([int(p["seed"]), int(round(t * 1e9))])
    u_w2 = rng.standard_normal((p["n_w2"], k))
    u_ind = rng.standard_normal((p["n_w2"], k))
    z_w2 = rng.standard_normal((p["n_w2"], D))
    u_q = rng.standard_normal((p["n_fisher"], k))
    y = alpha * M.generator(u_q) + sigma * rng.standard_normal((p["n_fisher"], D))
    exact = M.smoothed_score(y, sigma=sigma, alpha=alpha)
    u_anc = rng.standard_normal((p["K"], k))
    ref = snis(y, M.generator(u_anc), alpha=alpha, sigma=sigma)
    x_star = M.generator(u_w2)
    base = {
        "experiment": NAME, "manifold": p["manifold"], "d": M.dim, "D": D, "seed": p["seed"],
        "t": t, "sigma": sigma, "alpha": alpha, "K": p["K"], "control": ctrl,
    }
    out = [{"eps": 0.0, "quantity": "anchor_floor",
            "value": np.mean(np.sum((ref.score - exact) ** 2, 1))}]
    ratios = {}
    for fam in fams:
        family = make_family(M, fam, p["n_modes"])
        for eps in eps_list:
            h = family(eps)
            x_h = h(u_ind if ctrl == "independent_latents" else u_w2)
            w2 = wasserstein(x_star, x_h, p=2)
            w2_s = wasserstein(alpha * x_star + sigma * z_w2, alpha * x_h + sigma * z_w2, p=2)
            est = snis(y, h(u_anc), alpha=alpha, sigma=sigma)
            if ctrl == "fisher_denoiser":
                J = float(np.mean(np.sum((ref.posterior_mean - est.posterior_mean) ** 2, 1)))
            elif ctrl == "no_crn":
                J = float(np.mean(np.sum((exact - est.score) ** 2, 1)))
            else:
                J = float(np.mean(np.sum((ref.score - est.score) ** 2, 1)))
            J = max(J, np.finfo(float).tiny)
            e_mag = t**2 / (1 - t) * J
            m_sv = _max_singular_value(h, u_w2[:256])
            c_lsi = (1 - t) * m_sv**2 + t
            ratio = w2 / np.sqrt(e_mag)
            ratios.setdefault(eps, []).append(ratio)
            out += [
                {"direction": fam, "eps": eps, "quantity": q, "value": v}
                for q, v in [
                    ("w2", w2), ("w2_smoothed", w2_s), ("fisher_J", J), ("e_mag", e_mag),
                    ("ratio_w2_sqrtJ", w2 / np.sqrt(J)), ("ratio_w2_sqrt_emag", ratio),
                    ("lsi_rhs", c_lsi * np.sqrt(J)), ("lsi_ratio", w2_s / (c_lsi * np.sqrt(J))),
                    ("max_singular_value", m_sv),
                ]
            ]
    out += [{"eps": eps, "quantity": "c_pb", "value": max(r)} for eps, r in ratios.items()]
    return rows(base, out)
