"""Every generator implements the protocol of models._protocol.

Fit on a tiny set, sample, save, load: the loaded model draws the same samples (bit for bit),
keeps its config and its tidy history; configs validate declared ranges and round-trip through
dicts; unfitted models, foreign and damaged files are errors naming the problem.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from magt_theory import models
from magt_theory.models import _persistence

SEED = 20240611

#: (class, tiny config overrides); every class implementing the protocol is listed here
GENERATORS = {
    "MAGT": (models.MAGT, dict(t=0.2, latent_dim=1, width=8, depth=1, n_anchors=8,
                               batch_size=8, steps=3)),
    "DiffusionModel": (models.DiffusionModel, dict(steps=3, batch_size=8, width=8, depth=1,
                                                   n_steps=4)),
    "FlowMatching": (models.FlowMatching, dict(steps=3, batch_size=8, width=8, depth=1,
                                               n_steps=3)),
    "CharGen": (models.CharGen, dict(n_steps=4, velocity_steps=3, fit_steps=3, width=8,
                                     depth=1, batch_size=8)),
    "WGANGP": (models.WGANGP, dict(latent_dim=1, width=8, depth=1, steps=2, batch_size=8)),
    "ProximalFlow": (models.ProximalFlow, dict(n_steps=3, width=8, depth=1, steps=2,
                                               batch_size=8)),
}
@pytest.fixture(scope="module")
def data():
    theta = np.random.default_rng(SEED).uniform(0, 2 * np.pi, 40)
    return np.stack([np.cos(theta), np.sin(theta)], 1)


@pytest.fixture(scope="module")
def fitted(data):
    return {name: cls(**kw).fit(data) for name, (cls, kw) in GENERATORS.items()}


def test_every_generator_subclasses_the_protocol():
    assert set(GENERATORS) == {"MAGT", "DiffusionModel", "FlowMatching", "CharGen", "WGANGP",
                               "ProximalFlow"}
    for cls, _ in GENERATORS.values():
        assert issubclass(cls, models.GenerativeModel)
        assert issubclass(cls.config_class, models.ModelConfig)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_fit_sample_save_load_same_samples(name, fitted, data, tmp_path):
    cls, _ = GENERATORS[name]
    model = fitted[name]
    x = model.sample(6, seed=3)
    assert isinstance(x, np.ndarray) and x.shape == (6, data.shape[1]) and x.dtype == np.float64
    assert np.all(np.isfinite(x))
    assert np.array_equal(x, model.sample(6, seed=3))
    assert not np.array_equal(x, model.sample(6, seed=4))
    assert isinstance(model.nfe, int) and model.nfe >= 1
    if hasattr(model, "sample_output"):  # integrated samplers count their evaluations
        assert model.sample_output(2, seed=3).nfe == model.nfe
    assert isinstance(model.history_, pd.DataFrame) and len(model.history_) > 0
    assert np.all(np.isfinite(model.history_.select_dtypes("number").to_numpy()))
    path = tmp_path / f"{name}.pt"
    model.save(path)
    loaded = cls.load(path)
    assert type(loaded) is cls and loaded.config == model.config
    assert loaded.nfe == model.nfe and loaded.ambient_dim_ == model.ambient_dim_
    assert np.array_equal(loaded.sample(6, seed=3), x)
    pd.testing.assert_frame_equal(loaded.history_.reset_index(drop=True),
                                  model.history_.reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_load_rejects_foreign_and_damaged_files(name, fitted, tmp_path):
    cls, _ = GENERATORS[name]
    other = next(n for n in GENERATORS if n != name)
    path = tmp_path / "other.pt"
    fitted[other].save(path)
    with pytest.raises(ValueError, match=f"not a {name} model file"):
        cls.load(path)
    fitted[name].save(path)
    payload = torch.load(path, weights_only=True)
    key = sorted(payload["state_dict"])[0]
    payload["state_dict"][key] = payload["state_dict"][key] + 1.0
    torch.save(payload, path)
    with pytest.raises(ValueError, match="damaged"):
        cls.load(path)
    with pytest.raises(FileNotFoundError):
        cls.load(tmp_path / "missing.pt")


@pytest.mark.parametrize("name", list(GENERATORS))
def test_unfitted_model_is_an_error(name):
    cls, kw = GENERATORS[name]
    with pytest.raises(RuntimeError, match="not fitted"):
        cls(**kw).sample(2)
    with pytest.raises(RuntimeError, match="not fitted"):
        cls(**kw).save("never-written.pt")


@pytest.mark.parametrize("name", list(GENERATORS))
def test_config_declared_ranges_replace_and_dict_round_trip(name):
    cls, kw = GENERATORS[name]
    cfg = cls.config_class(**kw)
    assert cls.config_class.from_dict(cfg.to_dict()) == cfg
    assert cls(cfg, seed=5).config == cfg.replace(seed=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1
    with pytest.raises(ValueError, match="seed"):
        cfg.replace(seed=-1)
    with pytest.raises(ValueError, match="unknown"):
        cls.config_class.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(TypeError, match="config"):
        cls(config=object())
    # every field that declares a check rejects a value of the wrong kind, naming itself
    for f in dataclasses.fields(cfg):
        if "check" in f.metadata and f.default is not None:
            with pytest.raises((TypeError, ValueError), match=f.name):
                cfg.replace(**{f.name: object()})


def test_persistence_format_is_shared():
    assert _persistence.format_name(models.MAGT) == models.FORMAT_NAME
    assert models.FORMAT_VERSION == _persistence.FORMAT_VERSION


def test_benchmark_builds_every_method_from_its_builder_dict():
    from magt_theory.experiments import benchmark as bm

    assert tuple(bm.BUILDERS) == bm.METHODS
    with pytest.raises(ValueError, match="method"):
        bm._build("vae", None, None, {}, 1, 2)
