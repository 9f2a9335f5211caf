"""The benchmark's methods (private; re-exported by :mod:`.benchmark`).

One builder per method of :data:`magt_theory.experiments.benchmark.METHODS` (:data:`BUILDERS`):
train on the jittered data and return the sampler, the extra rows and the loss histories; the
negative controls wrapping MAGT's sampler; the convergence check (:func:`plateau`) and the
sampler timing (:func:`time_sampler`). The protocol (networks, budgets, NFE) is stated in the
docstring of :mod:`magt_theory.experiments.benchmark` [MAGT §5]. Torch and the models are
imported inside the builders, so importing this module stays on the numpy path.
"""

from __future__ import annotations

import math
import time

import numpy as np


# ------------------------------------------------------------------------------ convergence
def plateau(losses, tol: float = 0.05) -> tuple[bool, float]:
    """Has a training-loss history plateaued? (the benchmark's convergence criterion).

    With ``w = max(1, len(losses) // 10)``, ``a`` the mean of the ``w`` losses ending at half
    the history and ``b`` the mean of the last ``w``, the relative drop is
    ``(a - b) / max(|b|, |a|, tiny)`` and its standard error ``se = sqrt(var_a/w + var_b/w)``
    (relative likewise). Plateaued when the drop is ``<= tol`` or ``<= 2 se`` (not resolved).
    Histories of fewer than 20 finite losses are not plateaued (``rel_drop`` NaN).

    Returns
    -------
    plateaued : bool
    rel_drop : float
        The relative drop (negative when the loss rose).
    """
    v = np.asarray(losses, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size < 20:  # fewer than 2 losses per window: no standard error, no verdict
        return False, float("nan")
    w = max(1, v.size // 10)
    half = v.size // 2
    a, b = v[max(0, half - w):half], v[-w:]
    scale = max(abs(a.mean()), abs(b.mean()), 1e-12)
    drop = (a.mean() - b.mean()) / scale
    se = math.sqrt((a.var(ddof=1) if a.size > 1 else 0.0) / a.size
                   + (b.var(ddof=1) if b.size > 1 else 0.0) / b.size) / scale
    return bool(drop <= tol or drop <= 2 * se), float(drop)


def _convergence(histories, tol) -> list[tuple[str, float]]:
    flags = [plateau(h, tol) for h in histories]
    drops = [d for _, d in flags if np.isfinite(d)]
    under = not all(ok for ok, _ in flags)
    return [("under_trained", float(under)),
            ("loss_rel_drop", float(max(drops)) if drops else 1.0)]


def time_sampler(fn, min_seconds: float = 0.5, max_repeats: int = 7):
    """Call ``fn()`` until ``min_seconds`` have elapsed in total or ``max_repeats`` calls.

    Returns ``(output of the last call, minimum wall time of one call, number of calls)``:
    the minimum over repeats is the least noisy estimate on a shared machine (``timeit``
    practice); ``fn`` must be deterministic (fixed seeds), so every call returns the same.
    """
    times, out = [], None
    while True:
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) >= min_seconds or len(times) >= max_repeats:
            return out, min(times), len(times)


# ------------------------------------------------------------------------------ trainers
def _magt(data, valid, p, d):
    from ..models.magt import MAGTConfig, select_t

    cfg = MAGTConfig(latent_dim=d, width=p["width"], depth=p["depth"], n_anchors=p["K"],
                     batch_size=p["batch_size"], steps=p["magt_steps"], lr=p["lr"],
                     chunk_size=min(p["K"], 1024), seed=p["seed"])
    n_sel = min(p["n_select"], valid.shape[0])
    model, _curve = select_t(data, valid[:n_sel], p["t_grid"], cfg, criterion="w2",
                            n_eval=n_sel, seed=p["seed"] + 7, progress=False)
    return model, float(model.config.t)


def _score(data, p):
    """The trained score network of :func:`_score_model` (a ``ScoreNetwork``)."""
    return _score_model(data, p).net_


def _score_model(data, p, **sampler):
    """The score-network baseline (ReLU backbone) as a protocol estimator, trained on ``data``;
    ``sampler`` sets its sampler (``sampler``, ``n_steps``)."""
    from ..models.estimators import DiffusionModel

    return DiffusionModel(width=p["width"], depth=p["depth"], activation="relu",
                          steps=p["score_steps"], batch_size=p["batch_size"], lr=p["lr"],
                          seed=p["seed"], **sampler).fit(data)


def _one_step(model, hist):
    """A fitted one-step generator's ``sampler(n, seed) -> (x, nfe)`` and its histories."""
    return (lambda n, s: (model.sample(n, seed=s), model.nfe)), [], hist


def _build_magt(data, valid, p, d, D):
    model, t_sel = _magt(data, valid, p, d)
    sampler, _, hist = _one_step(model, [model.history_["loss"].to_numpy()])
    return sampler, [("t_selected", t_sel)], hist


def ddim_refine(net, x0, refine_t: float, refine_steps: int, rng):
    """MAGT+DDIM refinement: noise ``x0`` to the VP level ``refine_t`` and denoise it back.

    ``y = sqrt(1 - t) x0 + sqrt(t) z`` with ``z ~ N(0, I)`` drawn from ``rng`` and ``t =
    refine_t``, then ``refine_steps`` DDIM steps of the score network ``net`` from ``t`` down to
    ``1e-4`` with a final Tweedie denoising [MAGT §5]. Returns the sampler's output
    (``samples``, ``nfe = refine_steps + 1``).
    """
    from ..models import diffusion as df

    a, sg = np.sqrt(1 - refine_t), np.sqrt(refine_t)
    y = a * x0 + sg * rng.standard_normal(x0.shape)
    grid = df.time_grid(refine_steps, t_max=refine_t, t_min=1e-4)
    return df.ddim_sample(net, y, grid, denoise_final=True)


def _build_magt_ddim(data, valid, p, d, D):
    model, t_sel = _magt(data, valid, p, d)
    net = _score(data, p)

    def refine(n, s):
        x0 = model.sample(n, seed=s)
        out = ddim_refine(net, x0, p["refine_t"], p["refine_steps"],
                          np.random.default_rng(s + 1))
        return out.samples, 1 + out.nfe

    return refine, [("t_selected", t_sel)], [model.history_["loss"].to_numpy(),
                                             net.train_losses_]


def _diffusion_builder(kind, steps):
    def build(data, valid, p, d, D):
        model = _score_model(data, p, sampler=kind, n_steps=steps)

        def diffuse(n, s):
            out = model.sample_output(n, seed=s)
            return out.samples, out.nfe

        return diffuse, [], [model.net_.train_losses_]

    return build


def _build_fm20(data, valid, p, d, D):
    from ..models.estimators import FlowMatching

    model = FlowMatching(width=p["width"], depth=p["depth"], activation="relu",
                         steps=p["fm_steps"], batch_size=p["batch_size"], lr=p["lr"],
                         seed=p["seed"], n_steps=10, method="midpoint").fit(data)

    def flow(n, s):
        out = model.sample_output(n, seed=s)
        return out.samples, out.nfe

    return flow, [], [model.net_.train_losses_]


def _build_wgan_gp(data, valid, p, d, D):
    from ..models.wgan import WGANGP, WGANGPConfig

    model = WGANGP(WGANGPConfig(latent_dim=d, width=p["width"], depth=p["depth"],
                                steps=p["wgan_steps"], batch_size=p["batch_size"],
                                seed=p["seed"])).fit(data)
    return _one_step(model, [model.history_["w_estimate"]])


def _build_chargen(data, valid, p, d, D):
    from ..models.chargen import CharGen, CharGenConfig

    model = CharGen(CharGenConfig(
        T=p["chargen_T"], n_steps=p["chargen_K"], width=p["width"], depth=p["depth"],
        velocity_steps=p["chargen_steps"], fit_steps=p["chargen_steps"],
        batch_size=p["batch_size"], lr=p["lr"], semigroup=p["chargen_semigroup"],
        seed=p["seed"])).fit(data)
    return _one_step(model, [model.velocity_losses_, model.fit_losses_])


def _build_w1w2(data, valid, p, d, D):
    from ..models.proximal_flow import ProximalFlow, ProximalFlowConfig

    model = ProximalFlow(ProximalFlowConfig(
        variant="w1w2", lam=p["w1w2_lam"], L=p["w1w2_L"], n_steps=p["w1w2_K"],
        width=p["width"], depth=p["depth"], steps=p["w1w2_steps"],
        batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"])).fit(data)
    return ((lambda n, s: (model.sample(n, seed=s), p["w1w2_K"])), [],
            [model.history_["dv"].to_numpy()])


#: method -> builder ``(data, valid, p, d, D) -> (sampler(n, seed) -> (x, nfe), extra rows,
#: loss histories)``; the keys are the benchmark's ``METHODS``, in table order
BUILDERS = {
    "magt": _build_magt,
    "magt_ddim": _build_magt_ddim,
    "ddim1000": _diffusion_builder("ddim", 999),
    "dpmpp20": _diffusion_builder("dpm_solver_pp2", 19),
    "dpmpp40": _diffusion_builder("dpm_solver_pp2", 39),
    "fm20": _build_fm20,
    "wgan_gp": _build_wgan_gp,
    "chargen": _build_chargen,
    "w1w2": _build_w1w2,
}


def _build(method, data, valid, p, d, D):
    """Train ``method``; return ``(sampler(n, seed) -> (x, nfe), extra_rows, loss histories)``."""
    if method not in BUILDERS:
        raise ValueError(f"method must be one of {list(BUILDERS)}; got {method!r}")
    return BUILDERS[method](data, valid, p, d, D)


def _apply_control(sampler, p, diam):
    """Wrap MAGT's sampler with the negative control ``p["control"]`` (benchmark docstring)."""
    if p["method"] != "magt" or p["control"] == "none":
        return sampler
    if p["control"] == "noisy_magt":
        def noisy(n, s):
            x, nfe = sampler(n, s)
            return x + 0.5 * diam * np.random.default_rng([s, 99]).standard_normal(x.shape), nfe

        return noisy

    def slow(n, s):  # slow_magt: 1000 forward passes, the cost of a 1000-NFE sampler
        for _ in range(999):
            sampler(n, s)
        x, _ = sampler(n, s)
        return x, 1000

    return slow
