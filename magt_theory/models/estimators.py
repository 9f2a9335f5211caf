"""Protocol estimators of the regression-trained baselines: VP diffusion and flow matching.

:mod:`~magt_theory.models.diffusion` and :mod:`~magt_theory.models.flow_matching` keep their
free functions (networks, trainers, samplers); the classes here bundle a network, its training
and its sampler behind the generator protocol (:mod:`magt_theory.models._protocol`):
``fit(X) -> self``, ``sample(n, seed)``, ``nfe``, ``history_``, ``save``/``load``.

* :class:`DiffusionModel` -- a :class:`~magt_theory.models.diffusion.ScoreNetwork` trained by
  :func:`~magt_theory.models.diffusion.train_score_network` (EDM-weighted DSM over
  ``t in [t_min, t_max]``), sampled by one of ``diffusion.SAMPLERS`` from ``N(0, I)`` noise on
  :func:`~magt_theory.models.diffusion.time_grid` (``nfe = n_steps + denoise_final``).
* :class:`FlowMatching` -- a :class:`~magt_theory.models.flow_matching.VelocityNetwork` trained
  by conditional flow matching on the linear path, integrated with Euler or midpoint steps
  (``nfe = n_steps x`` the solver's evaluations per step).

Both initialise the network from ``seed`` in a forked torch RNG, then train from a freshly
seeded one (the order the benchmark uses).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._validation import as_points
from . import diffusion, flow_matching, integrators
from ._protocol import (
    GenerativeModel,
    ModelConfig,
    activation_field,
    checked,
    choice,
    dtype_field,
    integer,
    open_interval,
    positive,
)

__all__ = ["DiffusionConfig", "DiffusionModel", "FlowMatchingConfig", "FlowMatching"]


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


class _NetworkModel(GenerativeModel):
    """One network trained by a free trainer, sampled by a free sampler.

    Attributes (after ``fit``): ``net_``, ``history_`` (``step``, ``loss``), ``ambient_dim_``,
    ``seconds_``.
    """

    _networks = ("net_",)

    def _make(self, ambient_dim: int, extra: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build(self, ambient_dim: int, extra: dict | None = None) -> None:
        with torch.random.fork_rng():
            torch.manual_seed(self.config.seed)
            self.net_ = self._make(ambient_dim, extra or {})
        self.ambient_dim_ = int(ambient_dim)

    def _data_extra(self, x) -> dict:
        """What :meth:`_make` needs from the training data (default: nothing)."""
        return {}

    def _train(self, x, progress):  # pragma: no cover - abstract
        """Train ``self.net_`` on ``x`` (the free trainer of the module); return the network."""
        raise NotImplementedError

    def _run_sampler(self, n, seed):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, data, progress: bool = False):
        """Build the network from ``seed``, train it on ``data`` ``(n, D)``; returns ``self``."""
        x = as_points(data, "data")
        t0 = time.perf_counter()
        self._build(x.shape[1], self._data_extra(x))
        net = self._train(x, progress)
        self.seconds_ = time.perf_counter() - t0
        net.eval()
        self.net_ = net
        self.history_ = pd.DataFrame({"step": np.arange(len(net.train_losses_)),
                                      "loss": net.train_losses_})
        return self

    def sample_output(self, n: int, seed: int = 0) -> diffusion.SamplerOutput:
        """The sampler's full output (samples, nfe, grid, seconds) for ``n`` draws."""
        self._check_fitted()
        return self._run_sampler(n, seed)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` samples ``(n, D)`` float64 from ``N(0, I)`` noise seeded by ``seed``."""
        return np.asarray(self.sample_output(n, seed).samples, dtype=np.float64)


@dataclass(frozen=True)
class _NetworkConfig(ModelConfig):
    """Training and network fields shared by the regression-trained baselines."""

    steps: int = integer(2000)
    batch_size: int = integer(512)
    lr: float = positive(2e-3)
    width: int = integer(128)
    depth: int = integer(3, low=0)
    n_freq: int = integer(4, low=0)
    activation: str = activation_field("silu")
    dtype: str = dtype_field("float32")


# ------------------------------------------------------------------------------ diffusion
@dataclass(frozen=True)
class DiffusionConfig(_NetworkConfig):
    """Hyper-parameters of :class:`DiffusionModel`.

    Parameters
    ----------
    t_min, t_max : float, ``0 < t_min < t_max < 1``
        VP levels of training and of the sampler's grid.
    steps, batch_size, lr : int, int, float
        Adam steps, batch size, peak learning rate (cosine decay to 5%).
    width, depth, n_freq, activation, dtype
        The score network (:class:`~magt_theory.models.diffusion.ScoreNetwork`).
    sampler : one of ``diffusion.SAMPLERS``
    n_steps : int
        Sampler steps.
    spacing : {"logsnr", "uniform", "log"}
        Time grid (:func:`~magt_theory.models.diffusion.time_grid`).
    denoise_final : bool
        One more denoiser call at ``t_min`` (Tweedie denoising).
    seed : int
    """

    t_min: float = open_interval(1e-4, 0.0, 1.0)
    t_max: float = open_interval(0.9999, 0.0, 1.0)
    sampler: str = choice("ddim", tuple(diffusion.SAMPLERS))
    n_steps: int = integer(100)
    spacing: str = choice("logsnr", ("logsnr", "uniform", "log"))
    denoise_final: bool = checked(True, _check_bool)
    seed: int = integer(0, low=0)

    def _validate(self):
        if not self.t_min < self.t_max:
            raise ValueError(f"t_min must lie in (0, t_max) = (0, {self.t_max}); "
                             f"got {self.t_min!r}")


class DiffusionModel(_NetworkModel):
    """VP diffusion baseline: a learned ScoreNetwork ``net_`` and a sampler of
    ``diffusion.SAMPLERS`` (``nfe = n_steps + denoise_final``)."""

    config_class = DiffusionConfig

    @property
    def nfe(self) -> int:
        return self.config.n_steps + int(self.config.denoise_final)

    def _extra(self) -> dict:
        return {"sigma_data": float(self.net_.sigma_data)}

    def _make(self, ambient_dim, extra):
        c = self.config
        return diffusion.ScoreNetwork(ambient_dim, width=c.width, depth=c.depth, n_freq=c.n_freq,
                                      sigma_data=extra["sigma_data"], activation=c.activation,
                                      dtype=c.dtype)

    def _data_extra(self, x) -> dict:
        return {"sigma_data": max(float(np.sqrt(np.mean(x**2))), 1e-3)}

    def _train(self, x, progress):
        c = self.config
        return diffusion.train_score_network(
            x, t_min=c.t_min, t_max=c.t_max, steps=c.steps, batch_size=c.batch_size, lr=c.lr,
            seed=c.seed, net=self.net_, progress=progress)

    def _run_sampler(self, n, seed):
        c = self.config
        return diffusion.sample(self.net_, n, self.ambient_dim_, method=c.sampler,
                                n_steps=c.n_steps, t_max=c.t_max, t_min=c.t_min,
                                spacing=c.spacing, seed=seed, denoise_final=c.denoise_final)


# -------------------------------------------------------------------------- flow matching
@dataclass(frozen=True)
class FlowMatchingConfig(_NetworkConfig):
    """Hyper-parameters of :class:`FlowMatching`.

    Parameters
    ----------
    steps, batch_size, lr : int, int, float
        Adam steps, batch size, peak learning rate (cosine decay to 5%).
    width, depth, n_freq, activation, dtype
        The velocity network (:class:`~magt_theory.models.flow_matching.VelocityNetwork`).
    method : {"euler", "midpoint"}
        Velocity solver of :mod:`~magt_theory.models.integrators`.
    n_steps : int
        Uniform steps on ``s in [0, 1]``.
    seed : int
    """

    method: str = choice("midpoint", ("euler", "midpoint"))
    n_steps: int = integer(20)
    seed: int = integer(0, low=0)


class FlowMatching(_NetworkModel):
    """Conditional flow matching baseline (linear path): a VelocityNetwork ``net_``
    integrated by Euler or midpoint steps."""

    config_class = FlowMatchingConfig

    @property
    def nfe(self) -> int:
        return self.config.n_steps * integrators.SOLVERS[self.config.method].nfe_per_step

    def _make(self, ambient_dim, extra):
        c = self.config
        return flow_matching.VelocityNetwork(ambient_dim, width=c.width, depth=c.depth,
                                             n_freq=c.n_freq, activation=c.activation,
                                             dtype=c.dtype)

    def _train(self, x, progress):
        c = self.config
        return flow_matching.train_flow_matching(
            x, steps=c.steps, batch_size=c.batch_size, lr=c.lr, seed=c.seed, net=self.net_,
            progress=progress)

    def _run_sampler(self, n, seed):
        c = self.config
        return flow_matching.sample(self.net_, n, self.ambient_dim_, n_steps=c.n_steps,
                                    method=c.method, seed=seed)
