"""What a row of ``verdicts.csv`` fits and compares (:class:`VerdictSpec`) and the predicted
slope it derives from a bound of :mod:`magt_theory.bounds`.

Part of :mod:`magt_theory.analysis` (re-exported there).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from .. import bounds as _bounds
from ._verdict import _DIRECTIONS, ERROR_DIRECTIONS


@dataclass(frozen=True)
class VerdictSpec:
    """What to fit and what to compare it with, for one row family of ``verdicts.csv``.

    Parameters
    ----------
    experiment, quantity : str
        Rows of the tidy results to use.
    swept : str
        Column holding the swept variable (``n``, ``K``, ``sigma``, ``t`` ...).
    bound : str
        Name in :data:`magt_theory.bounds.BOUNDS`.
    variable : str, optional
        The bound's symbol for ``swept`` (default: ``swept``).
    substitutions : mapping
        Fixed values for bound symbols (e.g. ``{"eta": 2}``); ``d``, ``D`` and any other
        column constant within a group are taken from the data.
    filter : mapping
        ``column -> value`` or ``column -> list of values`` kept (e.g. fixed other parameters).
    group_by : sequence of str
        Extra columns to split by (one row each), beside ``manifold`` and ``D``.
    average_over : sequence of str
        Replicate columns averaged over (besides duplicate rows); other parameter columns must
        be constant within each (group, swept value).
    band : float
        Slope band (see :func:`verdict`).
    fit_range : (low, high), optional
        Inclusive range of ``swept`` values fitted (None for open ends).
    floor_quantity : str, optional
        A quantity of the same experiment giving the noise floor at each point (e.g.
        ``w2_noise_floor``). Swept values whose mean measurement is within ``floor_factor``
        of the mean floor are excluded, and the note says so.
    floor_factor : float, >= 3
        Default 3: a point within a factor 2 of the floor still carries a bias of order the
        floor itself (``W2^2`` of independent errors add), which flattens the slope.
    direction : {"large", "small"}, optional
        Default: where the bound matters for this variable (``Bound.regime``).
    predicted : {"range", "local", "asymptotic"}
        ``"range"`` (default): the bound's own slope over the fitted swept values
        (:meth:`magt_theory.bounds.Bound.range_slope`: the OLS slope of ``log B`` at the same
        points, constants and log factors included); ``"local"``: the symbolic slope at the
        geometric mean of those values; ``"asymptotic"``: its limit in ``direction``. The
        asymptotic slope is written in the note whenever sympy can take it.
    max_ci_width : float, optional
        See :func:`verdict` (can only turn *consistent* into *inconclusive*).
    control : str, optional
        Name of the negative control (an experiment's ``control`` parameter) that a test shows
        turning this row *inconsistent*. Without one the row is a **diagnostic**: the slope and
        CI are reported, the verdict column says ``diagnostic``.
    claim : {"rate", "bound"}, optional
        Overrides the bound's own claim kind (default: ``Bound.claim``).
    error_direction : {"tangent", "normal", "mixed", ""}, optional
        Value of the ``direction`` column; by default taken from a ``direction`` column of the
        results (a ``group_by`` key or a scalar ``filter``), else empty.

    Examples
    --------
    The slope claims an experiment declares in its ``SPEC.claims`` are keyword sets of these
    fields (without ``experiment``), e.g.::

        dict(quantity="ratio_w2_sqrt_emag", swept="t", bound="magt_pullback_ratio",
             filter={"direction": "tangent"}, average_over=("eps",), band=0.1,
             control="fisher_denoiser")
    """

    experiment: str
    quantity: str
    swept: str
    bound: str
    variable: str | None = None
    substitutions: Mapping = field(default_factory=dict)
    filter: Mapping = field(default_factory=dict)
    group_by: Sequence[str] = ()
    average_over: Sequence[str] = ()
    band: float = 0.1
    fit_range: tuple | None = None
    floor_quantity: str | None = None
    floor_factor: float = 3.0
    direction: str | None = None
    predicted: str = "range"
    max_ci_width: float | None = None
    control: str | None = None
    claim: str | None = None
    error_direction: str | None = None

    def __post_init__(self):
        for name in ("experiment", "quantity", "swept", "bound"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise TypeError(f"VerdictSpec.{name} must be a non-empty str")
        bnd = _bounds.get(self.bound)  # raises on an unknown name
        var = self.variable or self.swept
        _bounds.symbol(var)  # raises on an unknown symbol
        if var not in bnd.free_symbols:
            raise ValueError(
                f"VerdictSpec.variable {var!r} is not a symbol of bound {self.bound!r} "
                f"(free symbols {sorted(bnd.free_symbols)}); set variable="
            )
        if not np.isfinite(self.band) or self.band < 0:
            raise ValueError(f"VerdictSpec.band must be >= 0; got {self.band!r}")
        if not (np.isfinite(self.floor_factor) and self.floor_factor >= 3):
            raise ValueError(f"VerdictSpec.floor_factor must be >= 3 (a floor factor below 3 "
                             f"biases slopes); got {self.floor_factor!r}")
        if self.control is not None and (not isinstance(self.control, str) or not self.control):
            raise TypeError(f"VerdictSpec.control must be a non-empty str or None; "
                            f"got {self.control!r}")
        if self.claim is not None and self.claim not in {"rate", "bound"}:
            raise ValueError(f"VerdictSpec.claim must be 'rate', 'bound' or None; "
                             f"got {self.claim!r}")
        if self.error_direction is not None and self.error_direction not in ERROR_DIRECTIONS:
            raise ValueError(f"VerdictSpec.error_direction must be one of {ERROR_DIRECTIONS}; "
                             f"got {self.error_direction!r}")
        if self.direction is not None and self.direction not in _DIRECTIONS:
            raise ValueError(
                f"VerdictSpec.direction must be 'large' or 'small'; got {self.direction!r}"
            )
        if self.predicted not in {"range", "local", "asymptotic"}:
            raise ValueError(
                f"VerdictSpec.predicted must be 'range', 'local' or 'asymptotic'; "
                f"got {self.predicted!r}"
            )
        if self.fit_range is not None and (len(self.fit_range) != 2):
            raise ValueError(f"VerdictSpec.fit_range must be (low, high); got {self.fit_range!r}")

    @classmethod
    def coerce(cls, spec) -> "VerdictSpec":
        """A :class:`VerdictSpec` from itself or a dict (unknown keys raise ValueError)."""
        if isinstance(spec, cls):
            return spec
        if not isinstance(spec, Mapping):
            raise TypeError(f"spec must be a VerdictSpec or a dict; got {type(spec).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown spec key(s) {unknown}; accepted: {sorted(known)}")
        kw = dict(spec)
        for key in ("group_by", "average_over"):
            if key in kw and isinstance(kw[key], str):
                kw[key] = (kw[key],)
        if "fit_range" in kw and kw["fit_range"] is not None:
            kw["fit_range"] = tuple(kw["fit_range"])
        return cls(**kw)

    @property
    def var(self) -> str:
        return self.variable or self.swept


def _claim(spec, bnd) -> str:
    return spec.claim or bnd.claim


def _context(spec, bnd, grp: pd.DataFrame) -> dict:
    """Values of the bound's other symbols: spec substitutions, else columns constant in grp."""
    out = {}
    for name in bnd.free_symbols - {spec.var}:
        if name in spec.substitutions:
            out[name] = spec.substitutions[name]
        elif name in grp.columns and name != spec.swept:
            col = grp[name].dropna().unique()
            if col.size == 1 and isinstance(col[0], numbers.Real) and not isinstance(col[0], bool):
                out[name] = float(col[0])
    return out


def _predicted(spec, bnd, ctx: dict, x: np.ndarray, direction: str) -> tuple[float, str]:
    slope_expr = bnd.slope(spec.var)
    needed = {s.name for s in slope_expr.free_symbols} - {spec.var}
    missing = sorted(needed - set(ctx))
    if spec.predicted == "range":
        if missing:
            raise ValueError(f"spec {spec.experiment}/{spec.quantity}: the slope of {bnd.name} in "
                             f"{spec.var} depends on {missing}; give them in substitutions")
        sec, smin, smax = bnd.range_slope(spec.var, np.unique(x), at={k: ctx[k] for k in needed})
        how = ""
        if not bnd.is_constant_slope(spec.var):
            how = (f"; predicted = the bound's own slope over {spec.var} in "
                   f"[{np.min(x):.3g}, {np.max(x):.3g}] (local slope {smin:.3g} to {smax:.3g})")
            try:
                asym = bnd.asymptotic_slope(spec.var, direction,
                                            at={k: ctx[k] for k in needed} or None)
                if not asym.free_symbols:
                    towards = "oo" if direction == "large" else "0"
                    how += f"; asymptotic exponent {float(asym):.3g} as {spec.var} -> {towards}"
            except (ValueError, NotImplementedError):  # sympy could not take the limit
                pass
        return sec, how
    if spec.predicted == "local":
        if missing:
            raise ValueError(f"spec {spec.experiment}/{spec.quantity}: the slope of {bnd.name} in "
                             f"{spec.var} depends on {missing}; give them in substitutions or use "
                             "predicted='asymptotic'")
        at = {k: ctx[k] for k in needed}
        x_mid = float(np.exp(np.mean(np.log(np.unique(x)))))
        at[spec.var] = x_mid
        value = bnd.slope(spec.var, at=at)
        how = ""
        if not bnd.is_constant_slope(spec.var):
            how = f"; predicted = local slope at {spec.var}={x_mid:.3g}"
        return float(value), how
    at = {k: ctx[k] for k in needed if k in ctx}
    value = bnd.asymptotic_slope(spec.var, direction, at=at or None)
    if value.free_symbols:
        raise ValueError(
            f"spec {spec.experiment}/{spec.quantity}: asymptotic slope {value} still depends on "
            f"{sorted(s.name for s in value.free_symbols)}; give substitutions"
        )
    towards = "oo" if direction == "large" else "0"
    return float(value), f"; predicted = asymptotic slope as {spec.var} -> {towards}"
