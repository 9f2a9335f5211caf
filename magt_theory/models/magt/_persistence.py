"""Versioned MAGT model files: :func:`save_model`, :func:`load_model`, :func:`state_checksum`."""

from __future__ import annotations

import logging
import os

import pandas as pd
import torch

from ..._io import atomic_write_with
from ._config import MAGTConfig

logger = logging.getLogger("magt_theory.models.magt")

FORMAT_NAME = "magt_theory.MAGT"
FORMAT_VERSION = 2  # 2: sha256 checksum of the weights (version 1 files load with a warning)


def save_model(model, path) -> None:
    """Write the model, its config and its training history to ``path`` atomically.

    The file is a ``torch.save`` dict with ``format`` = :data:`FORMAT_NAME`, ``version``
    = :data:`FORMAT_VERSION` and ``checksum`` = :func:`state_checksum` of the weights
    (checked by :func:`load_model`, so a flipped bit is an error, not a silently different
    model); it is written to a temporary file in the same directory and renamed with
    ``os.replace``, so a killed run never leaves a half-written file.
    """
    model._check_fitted()
    path = os.fspath(path)
    hist = getattr(model, "history_", pd.DataFrame())
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "ambient_dim": model.ambient_dim_,
        "state_dict": {k: v.detach().cpu() for k, v in model.generator_.state_dict().items()},
        "checksum": None,
        "history": {c: hist[c].tolist() for c in hist.columns},
        "seconds": float(getattr(model, "seconds_", 0.0)),
        "torch_version": str(torch.__version__),
    }
    payload["checksum"] = state_checksum(payload["state_dict"])

    def write(tmp):
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write_with(path, write)


def load_model(cls, path, device: str | None = None):
    """Read a model written by :func:`save_model` as an instance of ``cls`` (errors: see
    :meth:`MAGT.load <magt_theory.models.magt.MAGT.load>`)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no MAGT model file at {path!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ValueError(
            f"{path!r} is not a readable MAGT model file (corrupt or not a torch file): {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path!r} is not a MAGT model file: format {fmt!r}, expected {FORMAT_NAME!r}"
        )
    version = payload.get("version")
    if version not in (1, FORMAT_VERSION):
        raise ValueError(
            f"{path!r} has MAGT model format version {version!r}; this magt_theory "
            f"reads versions 1 and {FORMAT_VERSION}"
        )
    if version == 1:
        logger.warning("%s: format version 1 has no checksum; weights are not verified", path)
    else:
        stored = payload.get("checksum")
        try:
            actual = state_checksum(payload["state_dict"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path!r} is a damaged MAGT model file: {exc}") from exc
        if stored != actual:
            raise ValueError(
                f"{path!r} is a damaged MAGT model file: the weights' checksum "
                f"{actual[:16]}... does not match the stored {str(stored)[:16]}..."
            )
    try:
        config = MAGTConfig.from_dict(payload["config"])
        if (
            device is None
            and config.device.startswith("cuda")
            and not torch.cuda.is_available()
        ):
            logger.warning(
                "%s was trained on %s; CUDA is not available, loading on cpu",
                path,
                config.device,
            )
            device = "cpu"
        if device is not None:
            config = config.replace(device=device)
        model = cls(config)
        model._build(int(payload["ambient_dim"]))
        model.generator_.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path!r} is a damaged MAGT model file: {exc}") from exc
    model.history_ = pd.DataFrame(payload.get("history", {}))
    model.seconds_ = float(payload.get("seconds", 0.0))
    return model


def state_checksum(state_dict) -> str:
    """SHA-256 of a state dict's tensors: names, dtypes, shapes and bytes, in sorted name order.

    Stored by :meth:`MAGT.save` and checked by :meth:`MAGT.load`. Self-contained: it depends
    only on the tensors (CPU, contiguous), not on how the file was written.
    """
    import hashlib

    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
