"""Versioned model files of every generator: :func:`save_model`, :func:`load_model`,
:func:`state_checksum`.

A model file is a ``torch.save`` dict::

    format        "magt_theory.<ClassName>" (e.g. FORMAT_NAME = "magt_theory.MAGT")
    version       FORMAT_VERSION (2: sha256 checksum of the weights)
    config        the config's to_dict()
    ambient_dim   D
    extra         floats the networks' construction needs (e.g. a data scale)
    state_dict    the networks' tensors (MAGT: its generator's state dict, unprefixed)
    checksum      state_checksum(state_dict)
    history       the tidy history as {column: list}
    seconds, torch_version

written atomically (temporary file in the same directory, fsync, ``os.replace``), so a killed run
never leaves a half-written file, and checked on load (a flipped bit is an error, not a silently
different model). Version 1 (MAGT only, no checksum) loads with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os

import pandas as pd
import torch

from .._io import atomic_write_with

logger = logging.getLogger("magt_theory.models")

FORMAT_NAME = "magt_theory.MAGT"
FORMAT_VERSION = 2  # 2: sha256 checksum of the weights (version 1 files load with a warning)


def format_name(cls) -> str:
    """``"magt_theory.<ClassName>"``, the ``format`` entry of ``cls``'s model files."""
    return f"magt_theory.{cls.__name__}"


def save_model(model, path) -> None:
    """Write ``model`` (a :class:`~magt_theory.models._protocol.GenerativeModel`) to ``path``."""
    model._check_fitted()
    path = os.fspath(path)
    hist = getattr(model, "history_", None)
    hist = pd.DataFrame() if hist is None else pd.DataFrame(hist)
    payload = {
        "format": format_name(type(model)),
        "version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "ambient_dim": model.ambient_dim_,
        "state_dict": model._state_dict(),
        "checksum": None,
        "history": {c: hist[c].tolist() for c in hist.columns},
        "seconds": float(getattr(model, "seconds_", 0.0)),
        "torch_version": str(torch.__version__),
    }
    extra = model._extra()
    if extra:
        payload["extra"] = dict(extra)
    payload["checksum"] = state_checksum(payload["state_dict"])

    def write(tmp):
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write_with(path, write)


def load_model(cls, path, device: str | None = None):
    """Read a model written by :func:`save_model` as an instance of ``cls`` (errors: see
    :meth:`GenerativeModel.load <magt_theory.models._protocol.GenerativeModel.load>`)."""
    name = cls.__name__
    fmt_expected = format_name(cls)
    versions = getattr(cls, "_readable_versions", (FORMAT_VERSION,))
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {name} model file at {path!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ValueError(
            f"{path!r} is not a readable {name} model file (corrupt or not a torch file): {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt_expected:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path!r} is not a {name} model file: format {fmt!r}, expected {fmt_expected!r}"
        )
    version = payload.get("version")
    if version not in versions:
        raise ValueError(
            f"{path!r} has {name} model format version {version!r}; this magt_theory "
            f"reads versions {' and '.join(str(v) for v in versions)}"
        )
    damaged = f"{path!r} is a damaged {name} model file"
    if version == 1:
        logger.warning("%s: format version 1 has no checksum; weights are not verified", path)
    else:
        stored = payload.get("checksum")
        try:
            actual = state_checksum(payload["state_dict"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{damaged}: {exc}") from exc
        if stored != actual:
            raise ValueError(
                f"{damaged}: the weights' checksum "
                f"{actual[:16]}... does not match the stored {str(stored)[:16]}..."
            )
    try:
        config = cls.config_class.from_dict(payload["config"])
        has_device = hasattr(config, "device")
        if device is not None and not has_device and str(device) != "cpu":
            raise ValueError(f"device must be 'cpu' or None for {name}; got {device!r}")
        if has_device:
            if device is None and config.device.startswith("cuda") \
                    and not torch.cuda.is_available():
                logger.warning("%s was trained on %s; CUDA is not available, loading on cpu",
                               path, config.device)
                device = "cpu"
            if device is not None:
                config = config.replace(device=device)
        model = cls(config)
        model._build(int(payload["ambient_dim"]), dict(payload.get("extra", {})))
        model._load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{damaged}: {exc}") from exc
    model.history_ = pd.DataFrame(payload.get("history", {}))
    model.seconds_ = float(payload.get("seconds", 0.0))
    return model


def state_checksum(state_dict) -> str:
    """SHA-256 of a state dict's tensors: names, dtypes, shapes and bytes, in sorted name order.

    Stored by ``save`` and checked by ``load``. Self-contained: it depends only on the tensors
    (CPU, contiguous), not on how the file was written.
    """
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
