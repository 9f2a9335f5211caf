"""The row constructor shared by every builder of :mod:`magt_theory.claims`."""

from __future__ import annotations

import numpy as np

from .. import analysis


def _row(**kw) -> dict:
    """One row of ``verdicts.csv``: ``analysis.VERDICT_COLUMNS`` as NaN, ``direction`` and
    ``control`` empty, then ``kw``."""
    out = {c: np.nan for c in analysis.VERDICT_COLUMNS}
    out.update(direction="", control="")
    out.update(kw)
    return out
