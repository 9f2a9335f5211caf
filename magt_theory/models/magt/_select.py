"""Selection of the smoothing level ``t`` on held-out data [MAGT §3, "t selection"]."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from ..._validation import as_points, check_in_open_interval, check_int
from ._config import MAGTConfig
from ._estimator import MAGT

logger = logging.getLogger("magt_theory.models.magt")


def select_t(
    train,
    valid,
    t_grid,
    config: MAGTConfig | None = None,
    criterion: str = "w2",
    n_eval: int | None = None,
    dsm_t: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
):
    """Train one model per ``t`` in ``t_grid`` and keep the best by a validation criterion.

    Criteria [MAGT §3, "t selection"]:

    * ``"w2"`` -- ``W2`` (:func:`magt_theory.metrics.wasserstein`, ``p=2``) between
      ``n_eval`` generated samples (default ``len(valid)``) and the held-out ``valid`` points;
    * ``"dsm"`` -- the DSM loss on ``valid`` at one *fixed* level ``dsm_t`` for every
      candidate (default ``min(t_grid)``; losses at different levels are not comparable), with
      common random numbers (same noise and anchor seed).

    Returns
    -------
    model : MAGT
        The trained model with the smallest criterion value.
    curve : pandas.DataFrame
        One row per ``t``: ``t, criterion, value, final_loss, seconds``.
    """
    if criterion not in ("w2", "dsm"):
        raise ValueError(f"criterion must be 'w2' or 'dsm'; got {criterion!r}")
    try:
        grid = [float(t) for t in np.atleast_1d(np.asarray(t_grid, dtype=np.float64))]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"t_grid must be a sequence of numbers in (0, 1); got {t_grid!r}") from exc
    if not grid:
        raise ValueError("t_grid must hold at least one level in (0, 1)")
    for t in grid:
        check_in_open_interval(t, "t_grid entries", 0.0, 1.0)
    config = config or MAGTConfig()
    x_train = as_points(train, "train")
    x_valid = as_points(valid, "valid", x_train.shape[1])
    n_eval = check_int(n_eval if n_eval is not None else x_valid.shape[0], "n_eval", low=1)
    seed = check_int(seed, "seed", low=0)
    if criterion == "dsm":
        dsm_t = min(grid) if dsm_t is None else check_in_open_interval(dsm_t, "dsm_t", 0.0, 1.0)
    configs = [config.replace(t=t) for t in grid]  # validate every level before any training
    from ... import metrics  # deferred: metrics is an optional neighbour at import time

    rows, best, best_value = [], None, math.inf
    for cfg in configs:
        model = MAGT(cfg).fit(x_train, progress=progress)
        if criterion == "w2":
            value = float(metrics.wasserstein(model.sample(n_eval, seed=seed), x_valid, p=2))
        else:
            value = model.dsm_loss(x_valid, t=dsm_t, seed=seed)
        final = float(model.history_["loss"].iloc[-1]) if len(model.history_) else math.nan
        rows.append(
            {
                "t": cfg.t,
                "criterion": criterion,
                "value": value,
                "final_loss": final,
                "seconds": model.seconds_,
            }
        )
        logger.info("select_t: t=%.4g %s=%.5g", cfg.t, criterion, value)
        if value < best_value:
            best, best_value = model, value
    if best is None:
        raise FloatingPointError("select_t: every candidate gave a non-finite validation value")
    return best, pd.DataFrame(rows)
