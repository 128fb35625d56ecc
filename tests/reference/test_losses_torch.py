"""pplmle.reference.losses against torch.nn in float64 (skipped when torch is not installed)."""

import numpy as np
import pytest
from scipy.special import expit

from pplmle.reference.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    nll_loss,
)

torch = pytest.importorskip("torch")

REDUCTIONS = ("mean", "sum", "none")
RTOL = 1e-6  # the agreed contract
TIGHT = 1e-12  # what float64 on both sides actually gives on these well-scaled inputs
N, K = 40, 4


def t64(x):
    return torch.tensor(np.asarray(x), dtype=torch.float64)


def torch_loss(loss_cls, reduction, x, y):
    return loss_cls(reduction=reduction)(x, y).numpy()


def assert_matches(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)
    np.testing.assert_allclose(ours, theirs, rtol=TIGHT)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261125)
    z = rng.normal(scale=2.0, size=(N, K))
    y = rng.integers(0, K, size=N)
    soft = rng.dirichlet(np.ones(K), size=N)
    zb = rng.normal(scale=2.0, size=N)
    yb = rng.integers(0, 2, size=N).astype(float)
    return z, y, soft, zb, yb


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch_class_codes(data, reduction):
    z, y, *_ = data
    ours = cross_entropy(z, y, reduction=reduction)
    theirs = torch_loss(torch.nn.CrossEntropyLoss, reduction, t64(z), torch.tensor(y))
    assert_matches(ours, theirs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch_probability_target(data, reduction):
    z, y, soft, *_ = data
    for target in (soft, np.eye(K)[y]):
        ours = cross_entropy(z, target, reduction=reduction)
        theirs = torch_loss(torch.nn.CrossEntropyLoss, reduction, t64(z), t64(target))
        assert_matches(ours, theirs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(data, reduction):
    z, y, *_ = data
    lp = log_softmax(z)
    np.testing.assert_allclose(
        lp, torch.nn.functional.log_softmax(t64(z), dim=1).numpy(), rtol=1e-13, atol=1e-15
    )
    ours = nll_loss(lp, y, reduction=reduction)
    theirs = torch_loss(torch.nn.NLLLoss, reduction, t64(lp), torch.tensor(y))
    assert_matches(ours, theirs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(data, reduction):
    *_, zb, yb = data
    for target in (yb, expit(zb[::-1])):  # 0/1 labels and soft targets
        ours = binary_cross_entropy_with_logits(zb, target, reduction=reduction)
        theirs = torch_loss(torch.nn.BCEWithLogitsLoss, reduction, t64(zb), t64(target))
        assert_matches(ours, theirs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_torch_away_from_0_and_1(data, reduction):
    *_, zb, yb = data
    p = expit(zb)
    assert 1e-3 < p.min() and p.max() < 1 - 1e-3
    ours = binary_cross_entropy(p, yb, reduction=reduction)
    theirs = torch_loss(torch.nn.BCELoss, reduction, t64(p), t64(yb))
    assert_matches(ours, theirs)


def test_where_torch_differs_on_purpose():
    # BCELoss clamps log at -100; we return the exact inf
    p, y = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    np.testing.assert_array_equal(torch_loss(torch.nn.BCELoss, "none", t64(p), t64(y)), [100.0, 100.0])
    np.testing.assert_array_equal(binary_cross_entropy(p, y, reduction="none"), [np.inf, np.inf])
    # NLLLoss accepts raw scores and returns a negative "loss"; we refuse them
    assert torch_loss(torch.nn.NLLLoss, "mean", t64([[2.0, 1.0]]), torch.tensor([0])) == -2.0
    with pytest.raises(ValueError, match=r"`log_probs` must be <= 0 \(log-probabilities\)"):
        nll_loss([[2.0, 1.0]], [0])
    # torch's log(sum(exp)) keeps ~7 digits of a tiny loss; log1p keeps them all
    tiny = np.log1p(np.exp(-23.0))
    theirs = torch_loss(torch.nn.CrossEntropyLoss, "mean", t64([[23.0, 0.0]]), torch.tensor([0]))
    np.testing.assert_allclose(theirs, tiny, rtol=1e-6)
    assert abs(theirs / tiny - 1) > 1e-9
    np.testing.assert_allclose(cross_entropy([[23.0, 0.0]], [0]), tiny, rtol=1e-15)
