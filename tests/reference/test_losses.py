"""pplmle.reference.losses: cross-entropy is the categorical NLL, pinned against closed forms and families."""

import numpy as np
import pytest
from scipy.special import expit

import pplmle as pl
from pplmle.reference.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    nll_loss,
    softmax,
)

REDUCTIONS = ("mean", "sum", "none")


def naive_softmax(z):
    """Textbook formula, fine for well-scaled logits."""
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def categorical_data(seed, n=50, k=4, scale=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=(n, k)), rng.integers(0, k, size=n)


# -- cross-entropy is the NLL of log_softmax --------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_is_nll_of_log_softmax(reduction):
    z, y = categorical_data(1)
    np.testing.assert_allclose(
        cross_entropy(z, y, reduction=reduction),
        nll_loss(log_softmax(z), y, reduction=reduction),
        rtol=1e-12,
    )


def test_log_softmax_and_softmax_match_textbook_formula():
    z, _ = categorical_data(2, n=20, k=5)
    np.testing.assert_allclose(log_softmax(z), np.log(naive_softmax(z)), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(softmax(z), naive_softmax(z), rtol=1e-13)
    np.testing.assert_allclose(log_softmax(z, axis=0), np.log(naive_softmax(z.T)).T, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), np.ones(5), rtol=1e-15)


def test_one_hot_target_is_minus_log_prob_of_true_class():
    z, y = categorical_data(3, n=30, k=3, scale=1.0)
    q = naive_softmax(z)
    expected = -np.log(q[np.arange(30), y])
    per_row = cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(per_row, expected, rtol=1e-12)
    # a one-hot row adds zeros to the single term, so the two targets agree exactly
    np.testing.assert_array_equal(cross_entropy(z, np.eye(3)[y], reduction="none"), per_row)
    assert cross_entropy(z, np.eye(3)[y]) == cross_entropy(z, y)
    # integer codes given as whole-number floats are the same codes
    assert cross_entropy(z, y.astype(float)) == cross_entropy(z, y)


def test_soft_target_is_expected_minus_log_prob():
    z, _ = categorical_data(4, n=10, k=3, scale=1.0)
    t = np.random.default_rng(5).dirichlet(np.ones(3), size=10)
    expected = -np.sum(t * np.log(naive_softmax(z)), axis=1)
    np.testing.assert_allclose(cross_entropy(z, t, reduction="none"), expected, rtol=1e-12)


# -- losses x n = NLL of the pplmle families ----------------------------------------


@pytest.fixture(scope="module")
def softmax_fit():
    rng = np.random.default_rng(20261123)
    n = 90
    X = rng.normal(size=(n, 2))
    eta = np.column_stack([np.zeros(n), 0.4 + X @ [1.0, -0.6], -0.2 + X @ [-0.7, 0.9]])
    y = np.array(["low", "mid", "top"])[[rng.choice(3, p=p) for p in naive_softmax(eta)]]
    fam = pl.SoftmaxRegression(X, y)
    res = pl.mle(fam)
    assert res.converged
    return X, y, res


@pytest.fixture(scope="module")
def logistic_fit():
    rng = np.random.default_rng(20261124)
    n = 80
    X = rng.normal(size=(n, 2))
    y = (rng.uniform(size=n) < expit(-0.3 + X @ [1.2, -0.5])).astype(float)
    res = pl.mle(pl.LogisticRegression(X, y))
    assert res.converged
    return X, y, res


def softmax_logits(X, a, B):
    """The family's logits: reference class (first in sorted order) at 0."""
    return np.column_stack([np.zeros(len(X)), a + X @ B])


def test_cross_entropy_times_n_is_softmax_regression_nll(softmax_fit):
    X, y, res = softmax_fit
    n = len(y)
    _, codes = np.unique(y, return_inverse=True)
    a, B = np.array([0.3, -0.7]), np.array([[0.5, -1.2], [0.8, 0.1]])
    logits = softmax_logits(X, a, B)
    nll = res.nllf({"intercept": a, "beta": B})
    np.testing.assert_allclose(nll, n * cross_entropy(logits, codes), rtol=1e-10)
    np.testing.assert_allclose(nll, cross_entropy(logits, codes, reduction="sum"), rtol=1e-10)
    # string labels as a one-hot target in sorted class order: the same number
    one_hot = (y[:, None] == np.array(["low", "mid", "top"])).astype(float)
    np.testing.assert_allclose(nll, n * cross_entropy(logits, one_hot), rtol=1e-10)


def test_cross_entropy_at_softmax_regression_mle(softmax_fit):
    X, y, res = softmax_fit
    _, codes = np.unique(y, return_inverse=True)
    logits = softmax_logits(X, res.params["intercept"], res.params["beta"])
    ce_sum = cross_entropy(logits, codes, reduction="sum")
    np.testing.assert_allclose(res.nllf(), ce_sum, rtol=1e-10)
    np.testing.assert_allclose(-res.loglik, ce_sum, rtol=1e-10)
    # the MLE minimizes the cross-entropy: moving any coefficient raises it
    for j in range(2):
        moved = res.params["intercept"] + 0.05 * np.eye(2)[j]
        assert cross_entropy(softmax_logits(X, moved, res.params["beta"]), codes, reduction="sum") > ce_sum


def test_bce_with_logits_times_n_is_logistic_regression_nll(logistic_fit):
    X, y, res = logistic_fit
    n = len(y)
    for a, b in [(0.8, np.array([-1.5, 2.0])), (res.params["intercept"], res.params["beta"])]:
        eta = a + X @ b
        nll = res.nllf({"intercept": a, "beta": b})
        np.testing.assert_allclose(nll, n * binary_cross_entropy_with_logits(eta, y), rtol=1e-10)
        np.testing.assert_allclose(nll, binary_cross_entropy(expit(eta), y, reduction="sum"), rtol=1e-10)
    np.testing.assert_allclose(-res.loglik, n * binary_cross_entropy_with_logits(eta, y), rtol=1e-10)


# -- the double-softmax pitfall ------------------------------------------------------


def test_double_softmax_gives_a_different_wrong_value():
    z = np.array([[2.0, 0.0, -1.0]])
    right = cross_entropy(z, [0])
    wrong = cross_entropy(softmax(z), [0])
    np.testing.assert_allclose(right, np.log1p(np.exp(-2.0) + np.exp(-3.0)), rtol=1e-14)
    p = naive_softmax(z[0])
    np.testing.assert_allclose(wrong, np.log(np.exp(p).sum()) - p[0], rtol=1e-14)
    np.testing.assert_allclose([right, wrong], [0.169846, 0.657846], atol=5e-7)
    assert wrong - right > 0.48
    # even a perfect prediction cannot go below log(e + k - 1) - 1 when softmax is applied twice
    perfect = cross_entropy(softmax([[1000.0, 0.0, 0.0]]), [0])
    np.testing.assert_allclose(perfect, np.log(np.e + 2) - 1, rtol=1e-14)
    assert cross_entropy([[1000.0, 0.0, 0.0]], [0]) == 0.0


# -- binary = two-class softmax with logits [0, z] -----------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses_are_two_class_cross_entropy(reduction):
    rng = np.random.default_rng(6)
    z = rng.normal(scale=2.0, size=40)
    y = rng.integers(0, 2, size=40)
    two_class = cross_entropy(np.column_stack([np.zeros(40), z]), y, reduction=reduction)
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(z, y, reduction=reduction), two_class, rtol=1e-12
    )
    np.testing.assert_allclose(binary_cross_entropy(expit(z), y, reduction=reduction), two_class, rtol=1e-12)


def test_binary_cross_entropy_soft_targets_and_edges():
    p, y = np.array([0.3, 0.0, 1.0, 0.0, 1.0]), np.array([0.25, 0.0, 1.0, 1.0, 0.0])
    losses = binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(losses[0], -(0.25 * np.log(0.3) + 0.75 * np.log(0.7)), rtol=1e-14)
    np.testing.assert_array_equal(losses[1:], [0.0, 0.0, np.inf, np.inf])
    assert binary_cross_entropy(p, y) == np.inf
    # the logit form agrees on soft targets
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits([np.log(0.3 / 0.7)], [0.25]), losses[0], rtol=1e-14
    )


# -- stability -----------------------------------------------------------------------


def test_huge_logits_are_finite_and_exact():
    np.testing.assert_allclose(cross_entropy([[1000.0, 0.0]], [1]), 1000.0, rtol=1e-15)
    assert cross_entropy([[1000.0, 0.0]], [0]) == 0.0
    np.testing.assert_allclose(cross_entropy([[-1000.0, 1000.0, 0.0]], [0]), 2000.0, rtol=1e-15)
    np.testing.assert_array_equal(
        log_softmax([[1000.0, 0.0], [-1000.0, -1000.0]]), [[0.0, -1000.0], [-np.log(2)] * 2]
    )
    np.testing.assert_array_equal(softmax([1000.0, 0.0, -1000.0]), [1.0, 0.0, 0.0])
    losses = binary_cross_entropy_with_logits(
        [1000.0, -1000.0, 1000.0, -1000.0], [0, 1, 1, 0], reduction="none"
    )
    np.testing.assert_array_equal(losses, [1000.0, 1000.0, 0.0, 0.0])


def test_small_losses_keep_full_precision():
    # log(1 + e^-23) would keep ~6 digits; log1p after the max shift keeps all of them
    np.testing.assert_allclose(cross_entropy([[23.0, 0.0]], [0]), np.log1p(np.exp(-23.0)), rtol=1e-15)
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits([23.0], [1]), np.log1p(np.exp(-23.0)), rtol=1e-15
    )
    np.testing.assert_allclose(log_softmax([40.0, 0.0, 0.0])[0], -2 * np.exp(-40.0), rtol=1e-15)


# -- reductions ----------------------------------------------------------------------


def _cases():
    z, y = categorical_data(7, n=25, k=3)
    zb = z[:, 0]
    yb = y % 2
    return {
        "nll_loss": (nll_loss, log_softmax(z), y),
        "cross_entropy": (cross_entropy, z, y),
        "cross_entropy_soft": (cross_entropy, z, np.full((25, 3), 1 / 3)),
        "binary_cross_entropy": (binary_cross_entropy, expit(zb), yb),
        "binary_cross_entropy_with_logits": (binary_cross_entropy_with_logits, zb, yb),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_reductions(case):
    func, x, y = _cases()[case]
    per_obs = func(x, y, reduction="none")
    assert isinstance(per_obs, np.ndarray)
    assert per_obs.shape == (25,)
    assert np.all(per_obs >= 0)
    mean, total = func(x, y), func(x, y, reduction="sum")
    assert type(mean) is float and type(total) is float
    np.testing.assert_allclose(total, 25 * mean, rtol=1e-12)
    np.testing.assert_allclose(mean, per_obs.mean(), rtol=1e-14)
    np.testing.assert_allclose(total, per_obs.sum(), rtol=1e-14)


@pytest.mark.parametrize("case", list(_cases()))
def test_inputs_are_not_modified(case):
    func, x, y = _cases()[case]
    x0, y0 = x.copy(), y.copy()
    func(x, y, reduction="none")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    z = np.array([[3.0, 1.0], [0.5, 0.5]])
    log_softmax(z)
    softmax(z, axis=0)
    np.testing.assert_array_equal(z, [[3.0, 1.0], [0.5, 0.5]])


# -- errors --------------------------------------------------------------------------

Z = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]])
LP = np.log([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]])
P = np.array([0.2, 0.9])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        # reduction, for every loss
        (
            lambda: cross_entropy(Z, [0, 1], reduction="avg"),
            r"`reduction` must be one of \('mean', 'sum', 'none'\); got 'avg'",
        ),
        (lambda: nll_loss(LP, [0, 1], reduction=None), r"`reduction` must be one of .*; got None"),
        (
            lambda: binary_cross_entropy(P, [0, 1], reduction="Mean"),
            r"`reduction` must be one of .*; got 'Mean'",
        ),
        (
            lambda: binary_cross_entropy_with_logits(P, [0, 1], reduction=""),
            r"`reduction` must be one of .*; got ''",
        ),
        # logits
        (lambda: log_softmax([1.0, np.nan]), r"`logits` must be finite; found nan at index 1"),
        (lambda: softmax([1.0, np.inf]), r"`logits` must be finite; found inf at index 1"),
        (lambda: log_softmax(3.0), r"`logits` must be at least 1-dimensional; got a scalar"),
        (lambda: softmax(np.zeros((2, 0))), r"`logits` must not be empty; got shape \(2, 0\)"),
        (lambda: log_softmax(["a", "b"]), r"`logits` must be numeric"),
        (
            lambda: log_softmax(Z, axis=2),
            r"`axis` must be an integer in -2..1 for `logits` of shape \(2, 3\); got 2",
        ),
        (lambda: softmax(Z, axis=1.0), r"`axis` must be an integer in -2..1 .*; got 1.0"),
        (
            lambda: cross_entropy([[1.0, 2.0], [np.nan, 0.0]], [0, 1]),
            r"`logits` must be finite; found nan at index \(1, 0\)",
        ),
        (
            lambda: cross_entropy([1.0, 2.0], [0, 1]),
            r"`logits` must be 2-dimensional; got an array with shape \(2,\)",
        ),
        (lambda: cross_entropy(np.zeros((0, 3)), []), r"`logits` must not be empty; got shape \(0, 3\)"),
        (
            lambda: binary_cross_entropy_with_logits([0.0, np.nan], [0, 1]),
            r"`logits` must be finite; found nan at index 1",
        ),
        (lambda: binary_cross_entropy_with_logits([], []), r"`logits` must not be empty; got shape \(0,\)"),
        # class codes
        (
            lambda: cross_entropy(Z, [0, 1.5]),
            r"`y` must be integer class codes for cross_entropy; found 1.5 at index 1",
        ),
        (
            lambda: cross_entropy(Z, [0, 3]),
            r"`y` must be class codes in 0..2 for cross_entropy; found 3.0 at index 1",
        ),
        (
            lambda: cross_entropy(Z, [-1, 0]),
            r"`y` must be class codes in 0..2 for cross_entropy; found -1.0 at index 0",
        ),
        (lambda: cross_entropy(Z, [0, np.nan]), r"`y` must be finite; found nan at index 1"),
        (lambda: cross_entropy(Z, ["a", "b"]), r"`y` must be numeric"),
        (
            lambda: cross_entropy(Z, [0, 1, 2]),
            r"`logits` and `y` must have the same number of rows; got 2 and 3",
        ),
        (lambda: cross_entropy(Z, []), r"`y` must not be empty; got shape \(0,\)"),
        (
            lambda: cross_entropy(Z, 1),
            r"`y` must be class codes of shape \(n,\) or a probability target .*got .* shape \(\)",
        ),
        (lambda: nll_loss(LP, [0, 5]), r"`y` must be class codes in 0..2 for nll_loss; found 5.0 at index 1"),
        (
            lambda: nll_loss(LP, [0.5, 1]),
            r"`y` must be integer class codes for nll_loss; found 0.5 at index 0",
        ),
        (lambda: nll_loss(LP, [0]), r"`log_probs` and `y` must have the same number of rows; got 2 and 1"),
        # probability targets
        (
            lambda: cross_entropy(Z, np.eye(2)),
            r"`y` must have the shape of `logits` \(2, 3\) when it is a probability target; got \(2, 2\)",
        ),
        (
            lambda: cross_entropy(Z, [[1.5, -0.5, 0.0], [0, 0, 1]]),
            r"`y` must be in \[0, 1\] \(a probability target\) for cross_entropy; "
            r"found 1.5 at index \(0, 0\)",
        ),
        (
            lambda: cross_entropy(Z, [[0.5, 0.4, 0.0], [0, 0, 1]]),
            r"`y` must be a probability target, each row summing to 1 \(within 1e-06\), "
            r"for cross_entropy; row 0 sums to 0.9\.",
        ),
        (
            lambda: cross_entropy(Z, [[1.0, 0.0, 0.0], [0, np.nan, 1]]),
            r"`y` must be finite; found nan at index \(1, 1\)",
        ),
        # log-probabilities
        (
            lambda: nll_loss(Z, [0, 1]),
            r"`log_probs` must be <= 0 \(log-probabilities\) for nll_loss; found 1.0 at index \(0, 0\)",
        ),
        (
            lambda: nll_loss(LP - 1.0, [0, 1]),
            r"`log_probs` must be normalized, exp\(log_probs\) summing to 1 in each row \(within 1e-06\), "
            r"for nll_loss; row 0 sums to 0.367879.* Pass logits to cross_entropy instead\.",
        ),
        (
            lambda: nll_loss([[np.nan, 0.0]], [0]),
            r"`log_probs` must be free of NaN for nll_loss; found nan at index \(0, 0\)",
        ),
        (lambda: nll_loss([-0.1, -2.0], [0]), r"`log_probs` must be 2-dimensional"),
        # binary
        (
            lambda: binary_cross_entropy([0.2, 1.5], [0, 1]),
            r"`p` must be probabilities in \[0, 1\] for binary_cross_entropy; found 1.5 at index 1",
        ),
        (
            lambda: binary_cross_entropy([-0.1, 0.5], [0, 1]),
            r"`p` must be probabilities in \[0, 1\] .*found -0.1 at index 0",
        ),
        (lambda: binary_cross_entropy([0.2, np.nan], [0, 1]), r"`p` must be finite; found nan at index 1"),
        (
            lambda: binary_cross_entropy(P, [0, 2]),
            r"`y` must be in \[0, 1\] \(0/1 labels or probabilities\) for binary_cross_entropy; "
            r"found 2.0 at index 1",
        ),
        (
            lambda: binary_cross_entropy_with_logits(P, [-1, 1]),
            r"`y` must be in \[0, 1\] .* for binary_cross_entropy_with_logits; found -1.0 at index 0",
        ),
        (
            lambda: binary_cross_entropy_with_logits(P, [0, np.nan]),
            r"`y` must be finite; found nan at index 1",
        ),
        (
            lambda: binary_cross_entropy(P, [0, 1, 1]),
            r"`p` and `y` must have the same number of rows; got 2 and 3",
        ),
        (
            lambda: binary_cross_entropy_with_logits(P, [1]),
            r"`logits` and `y` must have the same number of rows; got 2 and 1",
        ),
        (lambda: binary_cross_entropy([], []), r"`p` must not be empty; got shape \(0,\)"),
        (lambda: binary_cross_entropy(P, []), r"`y` must not be empty; got shape \(0,\)"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
