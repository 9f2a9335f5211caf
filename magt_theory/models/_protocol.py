"""The generator protocol: one config base and one estimator base for every generator.

Configs (:class:`ModelConfig`) are frozen dataclasses whose ranges are declared once, in the
field metadata (helpers :func:`integer`, :func:`positive`, :func:`nonneg`, :func:`unit`,
:func:`open_interval`, :func:`choice`, :func:`dtype_field`, :func:`betas_field`); construction
validates every declared field (``ValueError``/``TypeError`` naming the field and its accepted
range), then the cross-field hook :meth:`ModelConfig._validate`. ``replace``, ``to_dict`` and
``from_dict`` are shared.

Estimators (:class:`GenerativeModel`) follow one shape:

* ``Model(config=None, **overrides)``; ``fit(X) -> self``; ``sample(n, seed) -> (n, D)`` float64;
* ``nfe``: network evaluations per sample;
* ``history_``: one tidy ``pandas.DataFrame`` (one row per logged step);
* ``save(path)`` / ``Model.load(path)``: the versioned, checksummed model file of
  :mod:`magt_theory.models._persistence` (format ``"magt_theory.<ClassName>"``).

A subclass declares ``config_class``, ``_networks`` (the attribute names of its torch modules,
set by ``fit``) and implements ``_build(ambient_dim, extra)`` (the untrained networks, used by
``load``), ``_extra()`` (floats the build needs, e.g. a data scale) and ``nfe``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_in_open_interval, check_int, check_positive
from .mlp import ACTIVATIONS, resolve_dtype

__all__ = [
    "ModelConfig",
    "GenerativeModel",
    "checked",
    "integer",
    "positive",
    "nonneg",
    "unit",
    "open_interval",
    "choice",
    "dtype_field",
    "betas_field",
    "activation_field",
    "check_nonneg",
    "check_betas",
]


# ------------------------------------------------------------------------- field checks
def check_nonneg(value, name: str) -> float:
    """``value`` as a finite float ``>= 0`` (TypeError / ValueError naming ``name``)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number >= 0; got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return v


def check_betas(value, name: str = "betas") -> tuple:
    """Adam's ``(beta1, beta2)``, both in ``[0, 1)``."""
    try:
        b1, b2 = (float(b) for b in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a pair of numbers in [0, 1); got {value!r}") from exc
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ValueError(f"{name} must be a pair of numbers in [0, 1); got {value!r}")
    return (b1, b2)


def checked(default, check, optional=False):
    """A field validated by ``check(value, name) -> value`` (None allowed with ``optional``)."""
    def run(value, name):
        if optional and value is None:
            return None
        return check(value, name)

    if isinstance(default, (list, dict)):
        raise TypeError("mutable defaults are not allowed in a config")
    return field(default=default, metadata={"check": run})


def integer(default, low: int = 1, high: int | None = None, optional: bool = False):
    """An int field in ``[low, high]`` (None allowed with ``optional``)."""
    return checked(default, lambda v, n: check_int(v, n, low=low, high=high), optional)


def positive(default, optional: bool = False):
    """A finite float ``> 0``."""
    return checked(default, check_positive, optional)


def nonneg(default):
    """A finite float ``>= 0``."""
    return checked(default, check_nonneg)


def unit(default):
    """A float in the closed interval ``[0, 1]``."""
    def check(v, n):
        x = check_nonneg(v, n)
        if x > 1:
            raise ValueError(f"{n} must lie in [0, 1]; got {v!r}")
        return x

    return checked(default, check)


def open_interval(default, low: float, high: float):
    """A float in the open interval ``(low, high)``."""
    return checked(default, lambda v, n: check_in_open_interval(v, n, low, high))


def choice(default, options):
    """One of ``options`` (ValueError listing them)."""
    options = tuple(options)

    def check(v, n):
        if v not in options:
            raise ValueError(f"{n} must be one of {sorted(options)}; got {v!r}")
        return v

    return checked(default, check)


def activation_field(default):
    """An activation name of :data:`magt_theory.models.mlp.ACTIVATIONS`."""
    return choice(default, ACTIVATIONS)


def dtype_field(default="float32"):
    """A torch float dtype name (``"float32"`` or ``"float64"``)."""
    def check(v, n):
        resolve_dtype(v)
        return v

    return checked(default, check)


def betas_field(default):
    """Adam's betas, a pair in ``[0, 1)`` (stored as a tuple of floats)."""
    return checked(default, check_betas)


# -------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class ModelConfig:
    """Base of the generators' frozen configs: declared field checks, ``replace``, dict I/O."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(getattr(self, f.name), f.name))
        self._validate()

    def _validate(self) -> None:
        """Cross-field checks (override); single fields are checked from their metadata."""

    def replace(self, **changes):
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-Python dict (tuples as lists), the inverse of :meth:`from_dict`."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict):
        """Build from :meth:`to_dict` output; unknown keys are a ValueError naming them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} keys {sorted(unknown)}; accepted: {sorted(fields)}"
            )
        d = dict(d)
        for k, v in d.items():
            if isinstance(fields[k].default, tuple) and isinstance(v, list):
                d[k] = tuple(v)
        return cls(**d)


# ----------------------------------------------------------------------------- estimators
class GenerativeModel:
    """Base of the generators: config handling, fitted check, sampling contract, persistence.

    Subclasses set ``config_class`` and ``_networks``; see the module docstring.
    """

    config_class: type = ModelConfig
    _networks: tuple = ()

    def __init__(self, config=None, **overrides):
        cls = self.config_class
        if config is None:
            config = cls(**overrides)
        elif not isinstance(config, cls):
            raise TypeError(f"config must be a {cls.__name__}; got {type(config).__name__}")
        elif overrides:
            config = config.replace(**overrides)
        self.config = config

    # ------------------------------------------------------------------ contract
    def _check_fitted(self):
        if not all(hasattr(self, a) for a in self._networks):
            name = type(self).__name__
            raise RuntimeError(
                f"{name} is not fitted; call fit(data) first (or {name}.load(path))")

    def fit(self, data, progress: bool = False):  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, n: int, seed: int = 0) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def nfe(self) -> int:  # pragma: no cover - abstract
        """Network evaluations per sample."""
        raise NotImplementedError

    # --------------------------------------------------------------- persistence
    def _extra(self) -> dict:
        """Floats/ints needed by :meth:`_build` besides the config and ``ambient_dim``."""
        return {}

    def _build(self, ambient_dim: int, extra: dict) -> None:  # pragma: no cover - abstract
        """Create untrained networks (attributes ``_networks``) of the right shapes."""
        raise NotImplementedError

    def _state_dict(self) -> dict:
        """Every network's tensors, keyed ``"<attribute>.<name>"``."""
        out = {}
        for attr in self._networks:
            for k, v in getattr(self, attr).state_dict().items():
                out[f"{attr}.{k}"] = v.detach().cpu()
        return out

    def _load_state_dict(self, state: dict) -> None:
        for attr in self._networks:
            prefix = attr + "."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            net = getattr(self, attr)
            net.load_state_dict(sub)
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)

    def save(self, path) -> None:
        """Write the model atomically to ``path`` (versioned, checksummed; see ``load``)."""
        from ._persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path, device: str | None = None):
        """Read a model written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a readable torch file, not a model of this class, of another
            format version, or its weights do not match the stored checksum (a damaged file).
        """
        from ._persistence import load_model

        return load_model(cls, path, device)

