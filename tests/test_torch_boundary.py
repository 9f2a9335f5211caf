"""Torch in, torch out: the uniform rule at the numpy/torch boundary (magt_theory._xp).

numpy in -> float64 numpy out; a tensor in -> a tensor out with the input's floating dtype and
device, equal to the numpy result up to that dtype's rounding; a tensor with requires_grad ->
TypeError naming the argument; scalars come out as Python floats.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import magt_theory as mt  # noqa: E402
from magt_theory import _xp  # noqa: E402

MANIFOLDS = [("circle", 4), ("sphere", 5), ("flat_torus", 6), ("gaussian_subspace", None),
             ("vmf_mixture", None)]

#: method -> (argument name, extra positional arguments)
METHODS = {
    "smoothed_score": ("y", (0.3, 0.9)),
    "posterior_mean": ("y", (0.3, 0.9)),
    "smoothed_log_density": ("y", (0.3, 0.9)),
    "project": ("y", ()),
    "distance": ("y", ()),
}


def _points(M, n=7):
    rng = np.random.default_rng(3)
    return M.sample(n, rng) + 0.2 * rng.standard_normal((n, M.ambient_dim))


@pytest.mark.parametrize("name,D", MANIFOLDS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_manifold_methods_follow_the_rule(name, D, method):
    M = mt.manifolds.make(name, ambient_dim=D)
    y = _points(M)
    arg, extra = METHODS[method]
    fn = getattr(M, method)
    ref = fn(y, *extra)
    assert isinstance(ref, np.ndarray) and ref.dtype == np.float64
    out32 = fn(y.astype(np.float32), *extra)  # numpy of another dtype: float64 numpy out
    assert isinstance(out32, np.ndarray) and out32.dtype == np.float64
    for dtype, rtol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        t = torch.as_tensor(y, dtype=dtype)
        out = fn(t, *extra)
        assert isinstance(out, torch.Tensor), (method, type(out))
        assert out.dtype == dtype and out.device == t.device
        assert not out.requires_grad
        # same numbers as the numpy call on the (rounded) input
        exp = fn(t.double().numpy(), *extra)
        np.testing.assert_allclose(out.double().numpy(), exp.astype(dtype_np(dtype)),
                                   rtol=rtol, atol=rtol * np.abs(exp).max())
    g = torch.as_tensor(y, dtype=torch.float64).requires_grad_(True)
    with pytest.raises(TypeError, match=rf"{arg} is a torch tensor with requires_grad"):
        fn(g, *extra)
    assert fn(g.detach(), *extra) is not None  # the remedy the message gives works


def dtype_np(dtype):
    return np.float64 if dtype == torch.float64 else np.float32


def test_keyword_argument_and_tuple_outputs():
    M = mt.manifolds.make("sphere", ambient_dim=5)
    y = torch.as_tensor(_points(M), dtype=torch.float32)
    mean, logp, cov = M.posterior(y=y, sigma=0.3, cov=True)
    for v in (mean, logp, cov):
        assert isinstance(v, torch.Tensor) and v.dtype == torch.float32
    assert tuple(cov.shape) == (7, 5, 5)
    x = M.project(y)
    T = M.tangent_basis(x)
    assert isinstance(T, torch.Tensor) and tuple(T.shape) == (7, 5, 2)
    ld = M.log_density(x)
    assert isinstance(ld, torch.Tensor) and ld.dtype == torch.float32


def test_integer_tensors_give_float64_tensors():
    M = mt.manifolds.make("circle")
    out = M.project(torch.tensor([[3, 4], [0, 2]]))
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.0, 1.0]], rtol=1e-15)


def test_wasserstein_returns_a_float_for_tensors_and_names_grad_arguments():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 3))
    ref = mt.metrics.wasserstein(x, y)
    out = mt.metrics.wasserstein(torch.as_tensor(x), torch.as_tensor(y))
    assert type(out) is float and out == ref
    with pytest.raises(TypeError, match="y is a torch tensor with requires_grad"):
        mt.metrics.wasserstein(x, torch.as_tensor(y).requires_grad_(True))
    with pytest.raises(TypeError, match="a is a torch tensor with requires_grad"):
        mt.metrics.wasserstein(x, y, a=torch.ones(20, dtype=torch.float64, requires_grad=True))


def test_snis_is_torch_in_torch_out():
    rng = np.random.default_rng(1)
    y, c = rng.standard_normal((5, 3)), rng.standard_normal((9, 3))
    ref = mt.anchors.snis(y, c, alpha=0.9, sigma=0.5)
    out = mt.anchors.snis(torch.as_tensor(y), torch.as_tensor(c), alpha=0.9, sigma=0.5)
    assert isinstance(out.posterior_mean, torch.Tensor)
    np.testing.assert_allclose(out.posterior_mean.numpy(), ref.posterior_mean, rtol=1e-12)


def test_boundary_helpers():
    assert _xp.is_torch(torch.zeros(1)) and not _xp.is_torch(np.zeros(1))
    assert _xp.like(np.zeros(2), np.ones(2)).dtype == np.float64
    t = _xp.like(torch.zeros(2, dtype=torch.float32), np.ones(2))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert _xp.like(torch.zeros(1), 1.5) == 1.5  # scalars pass through
    with pytest.raises(TypeError, match="complex"):
        _xp.to_numpy(torch.zeros(2, dtype=torch.complex64), "y")
