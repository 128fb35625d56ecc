"""Every family against its closed form (1e-8) or an independent Newton solve, and its SEs
against the analytic Fisher information."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from textbook import design, gamma_mle, logistic_mle, poisson_reg_mle, qr_lstsq, softmax_mle

import pplmle as pl

RTOL = 1e-8


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20261122)


def fit(family):
    res = pl.mle(family, strict=True)
    assert res.converged
    return res


# -- closed forms ------------------------------------------------------------------


def test_normal_divide_by_n_and_fisher_se():
    x = np.random.default_rng(1).normal(168, 5, size=40)
    res = fit(pl.Normal(x))
    mu, s = x.mean(), np.sqrt(np.mean((x - x.mean()) ** 2))
    np.testing.assert_allclose([res.params["mu"], res.params["sigma"]], [mu, s], rtol=RTOL)
    np.testing.assert_allclose(res.se["mu"], s / np.sqrt(40), rtol=1e-7)
    np.testing.assert_allclose(res.se["sigma"], s / np.sqrt(80), rtol=1e-7)
    np.testing.assert_allclose(res.cov.loc["mu", "sigma"], 0.0, atol=1e-10)


def test_heights_textbook_numbers():
    res = fit(pl.Normal(pl.datasets.heights()))
    np.testing.assert_allclose(res.params["mu"], 168.0, rtol=1e-12)
    np.testing.assert_allclose(res.params["sigma"], np.sqrt(22.4), rtol=1e-10)
    # loglik = -n/2 log(2 pi sigma^2) - n/2 at the MLE
    np.testing.assert_allclose(res.loglik, -5 * np.log(2 * np.pi * 22.4) - 5, rtol=1e-12)


def test_lognormal(rng):
    x = rng.lognormal(1.0, 0.5, size=60)
    res = fit(pl.LogNormal(x))
    lx = np.log(x)
    np.testing.assert_allclose(res.params["mu"], lx.mean(), rtol=RTOL)
    np.testing.assert_allclose(res.params["sigma"], lx.std(), rtol=RTOL)
    np.testing.assert_allclose(res.se["sigma"], lx.std() / np.sqrt(120), rtol=1e-7)


def test_bernoulli_and_se(rng):
    y = (rng.uniform(size=57) < 0.3).astype(int)
    res = fit(pl.Bernoulli(y))
    p = y.mean()
    np.testing.assert_allclose(res.params["p"], p, rtol=RTOL)
    np.testing.assert_allclose(res.se["p"], np.sqrt(p * (1 - p) / 57), rtol=1e-7)


def test_binomial_with_varying_trials(rng):
    n = rng.integers(1, 20, size=30)
    k = rng.binomial(n, 0.6)
    res = fit(pl.Binomial(k, n))
    p = k.sum() / n.sum()
    np.testing.assert_allclose(res.params["p"], p, rtol=RTOL)
    np.testing.assert_allclose(res.se["p"], np.sqrt(p * (1 - p) / n.sum()), rtol=1e-7)


def test_binomial_scalar_trials(rng):
    k = rng.binomial(10, 0.25, size=25)
    np.testing.assert_allclose(fit(pl.Binomial(k, 10)).params["p"], k.sum() / 250, rtol=RTOL)


def test_poisson(rng):
    x = rng.poisson(3.5, size=80)
    res = fit(pl.Poisson(x))
    np.testing.assert_allclose(res.params["lam"], x.mean(), rtol=RTOL)
    np.testing.assert_allclose(res.se["lam"], np.sqrt(x.mean() / 80), rtol=1e-7)


def test_exponential_rate(rng):
    x = rng.exponential(scale=2.0, size=70)
    res = fit(pl.Exponential(x))
    np.testing.assert_allclose(res.params["lam"], 1 / x.mean(), rtol=RTOL)
    np.testing.assert_allclose(res.se["lam"], (1 / x.mean()) / np.sqrt(70), rtol=1e-7)


def test_categorical_simplex_and_multinomial_covariance(rng):
    y = rng.choice(["a", "b", "c"], p=[0.2, 0.5, 0.3], size=90)
    res = fit(pl.Categorical(y))
    counts = np.array([(y == c).sum() for c in "abc"])
    p = counts / 90
    np.testing.assert_allclose(res.params["p"], p, rtol=RTOL)
    np.testing.assert_allclose(res.cov.to_numpy(), (np.diag(p) - np.outer(p, p)) / 90, rtol=1e-6, atol=1e-12)
    assert res.n_params == 2
    assert res.labels == ["p[a]", "p[b]", "p[c]"]


def test_categorical_with_k_codes(rng):
    y = rng.integers(0, 4, size=50)
    res = fit(pl.Categorical(y, k=4))
    np.testing.assert_allclose(res.params["p"], np.bincount(y, minlength=4) / 50, rtol=RTOL)


def test_linear_regression_qr_and_covariance(rng):
    X = pd.DataFrame({"GPA": rng.normal(3, 0.4, 50), "GRE": rng.normal(600, 80, 50)})
    y = 1.0 + 2.0 * X["GPA"] + 0.01 * X["GRE"] + rng.normal(0, 0.5, 50)
    res = fit(pl.LinearRegression(X, y))
    X1 = design(X)
    b = qr_lstsq(X1, y.to_numpy())
    rss = np.sum((y.to_numpy() - X1 @ b) ** 2)
    sigma = np.sqrt(rss / 50)
    np.testing.assert_allclose(res.params["intercept"], b[0], rtol=RTOL)
    np.testing.assert_allclose(res.params["beta"], b[1:], rtol=RTOL)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=RTOL)
    cov = sigma**2 * np.linalg.inv(X1.T @ X1)
    np.testing.assert_allclose(res.cov.iloc[:3, :3].to_numpy(), cov, rtol=1e-6)
    np.testing.assert_allclose(res.se["sigma"], sigma / np.sqrt(100), rtol=1e-7)
    assert res.labels == ["intercept", "beta[GPA]", "beta[GRE]", "sigma"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_regression_ill_conditioned_design(seed):
    r = np.random.default_rng(seed)
    n = 200
    X = np.column_stack([r.normal(0, 1e-5, n), r.normal(1e5, 1e3, n), r.normal(0, 1, n)])
    y = 3 + X @ np.array([2e5, 3e-5, -1.0]) + r.normal(0, 0.1, n)
    X1 = design(X)
    assert np.linalg.cond(X1) > 1e9
    res = fit(pl.LinearRegression(X, y))
    b = qr_lstsq(X1, y)
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    np.testing.assert_allclose(est, b, rtol=1e-7)
    sigma = np.sqrt(np.mean((y - X1 @ b) ** 2))
    se = sigma * np.sqrt(np.diag(np.linalg.inv(X1.T @ X1)))
    np.testing.assert_allclose(res.table()["se"].to_numpy()[:4], se, rtol=1e-5)


# -- no closed form: independent Newton ---------------------------------------------------


def test_gamma_against_newton(rng):
    x = rng.gamma(2.5, 1 / 1.5, size=120)
    res = fit(pl.Gamma(x))
    ref = gamma_mle(x)
    np.testing.assert_allclose(
        [res.params["alpha"], res.params["beta"]], [ref["alpha"], ref["beta"]], rtol=RTOL
    )


def test_logistic_regression_against_newton(rng):
    X = rng.normal(size=(150, 2)) * [1.0, 50.0]
    y = (rng.uniform(size=150) < expit(-0.5 + X @ [1.0, 0.02])).astype(float)
    res = fit(pl.LogisticRegression(X, y))
    X1 = design(X)
    b = logistic_mle(X1, y)
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    np.testing.assert_allclose(est, b, rtol=RTOL)
    p = expit(X1 @ b)
    se = np.sqrt(np.diag(np.linalg.inv((X1 * (p * (1 - p))[:, None]).T @ X1)))
    np.testing.assert_allclose(res.table()["se"].to_numpy(), se, rtol=1e-6)


def test_poisson_regression_with_offset_against_newton(rng):
    X = rng.normal(size=(100, 2))
    offset = np.log(rng.uniform(1, 5, 100))
    y = rng.poisson(np.exp(0.3 + X @ [0.5, -0.2] + offset))
    res = fit(pl.PoissonRegression(X, y, offset=offset))
    b = poisson_reg_mle(design(X), y, offset)
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    np.testing.assert_allclose(est, b, rtol=RTOL)


def test_softmax_regression_against_newton(rng):
    n = 120
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    logits = np.column_stack(
        [np.zeros(n), 0.5 + X.to_numpy() @ [1.0, -1.0], -0.3 + X.to_numpy() @ [-0.5, 0.8]]
    )
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array(["c", "a", "b"])[[rng.choice(3, p=p) for p in probs]]
    res = fit(pl.SoftmaxRegression(X, y))
    _, codes = np.unique(y, return_inverse=True)
    B = softmax_mle(design(X), codes, 3)
    assert res.params["intercept"].shape == (2,)
    assert res.params["beta"].shape == (2, 2)
    np.testing.assert_allclose(res.params["intercept"], B[0], rtol=RTOL)
    np.testing.assert_allclose(res.params["beta"], B[1:], rtol=RTOL)
    assert res.labels[:3] == ["intercept[b]", "intercept[c]", "beta[x1, b]"]


def test_regression_without_intercept(rng):
    X = rng.normal(size=(40, 2))
    y = X @ [1.5, -2.0] + rng.normal(0, 0.3, 40)
    res = fit(pl.LinearRegression(X, y, intercept=False))
    assert "intercept" not in res.params
    np.testing.assert_allclose(res.params["beta"], qr_lstsq(X, y), rtol=RTOL)


def test_tied_data_with_degenerate_iqr():
    # found by hypothesis: the IQR is ~1e-143, which once made a start at sigma ~ 1e-143
    x = np.array([0.0] * 15 + [9.56362871e-144] + [1.0] * 5)
    res = fit(pl.Normal(x))
    np.testing.assert_allclose(res.params["sigma"], x.std(), rtol=1e-8)
    np.testing.assert_allclose(res.params["mu"], x.mean(), rtol=1e-8)
