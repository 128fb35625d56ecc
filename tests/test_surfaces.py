"""Likelihood surfaces: values against scipy.stats, the textbook sweep, chunking, profiles, ArviZ."""

import arviz as az
import numpy as np
import pymc as pm
import pytest
import scipy.stats

import pplmle as pl

X = pl.datasets.heights()
MUS = np.arange(160.0, 181.0)


@pytest.fixture(scope="module")
def sweep():
    return pl.surface(pl.Normal(X), {"mu": MUS}, {"sigma": 5.0})


def test_textbook_sweep_peaks_at_the_sample_mean(sweep):
    ref = scipy.stats.norm.logpdf(X[None, :], MUS[:, None], 5.0).sum(axis=1)
    np.testing.assert_allclose(sweep.loglik.values, ref, rtol=1e-10)
    np.testing.assert_allclose(sweep.nll.values, -ref, rtol=1e-10)
    np.testing.assert_allclose(sweep.likelihood.values, np.exp(ref - ref.max()), rtol=1e-10)
    assert sweep.argmax() == {"mu": 168.0}
    for var, pick in (("likelihood", np.argmax), ("loglik", np.argmax), ("nll", np.argmin)):
        assert MUS[pick(sweep.dataset[var].values)] == 168.0
    assert sweep.dataset.attrs["fixed"] == "{'sigma': 5.0}"


def test_two_dimensional_surface_matches_scipy_and_chunking_does_not_matter():
    res = pl.mle(pl.Normal(X))
    mu, sigma = np.linspace(160, 176, 17), np.linspace(2, 10, 9)
    s1 = pl.surface(res, {"mu": mu, "sigma": sigma})
    s2 = pl.surface(res, {"mu": mu, "sigma": sigma}, chunk_size=7)
    ref = scipy.stats.norm.logpdf(X[None, None, :], mu[:, None, None], sigma[None, :, None]).sum(-1)
    np.testing.assert_allclose(s1.loglik.values, ref, rtol=1e-10)
    np.testing.assert_array_equal(s1.loglik.values, s2.loglik.values)
    assert s1.names == ["mu", "sigma"] and s1.loglik.shape == (17, 9)


def test_profile_surface_equals_the_closed_form_profile():
    res = pl.mle(pl.Normal(X))
    s = pl.surface(res, {"mu": MUS[::4]}, profile=True)
    S = np.sum((X - 168.0) ** 2)
    expected = res.loglik - 5 * np.log(1 + 10 * (168.0 - MUS[::4]) ** 2 / S)
    np.testing.assert_allclose(s.loglik.values, expected, rtol=1e-10)
    assert s.dataset.attrs["fixed"] == "{'sigma': 'profiled'}"


def test_regression_surface_and_default_fixed_at_the_mle():
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(50, 2))
    y = rng.binomial(1, 1 / (1 + np.exp(-(Xr @ [1.0, -1.0]))))
    res = pl.mle(pl.LogisticRegression(Xr, y))
    b0, b1 = np.linspace(-1, 2, 5), np.linspace(-2, 0, 4)
    s = pl.surface(pl.LogisticRegression(Xr, y), {"beta[0]": b0, "beta[1]": b1})
    B0, B1 = np.meshgrid(b0, b1, indexing="ij")
    eta = res.params["intercept"] + Xr[:, 0] * B0[..., None] + Xr[:, 1] * B1[..., None]
    ref = scipy.stats.bernoulli.logpmf(y, scipy.special.expit(eta)).sum(-1)
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-10)


def test_user_model_surface_and_outside_support_is_nan():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 100.0)
        sg = pm.HalfNormal("sg", 10.0)
        pm.Normal("h", mu, sg, observed=X)
    s = pl.surface(m, {"sg": np.array([-1.0, 0.0, 5.0])}, {"mu": 168.0})
    assert np.isnan(s.loglik.values[0]) and np.isnan(s.loglik.values[1])
    np.testing.assert_allclose(s.loglik.values[2], scipy.stats.norm.logpdf(X, 168.0, 5.0).sum(), rtol=1e-12)


def test_raw_product_of_densities_underflows_but_the_surface_does_not():
    x = np.random.default_rng(0).normal(size=3000)
    assert np.prod(scipy.stats.norm.pdf(x)) == 0.0
    s = pl.surface(pl.Normal(x), {"mu": np.linspace(-0.1, 0.1, 5)}, {"sigma": 1.0})
    assert np.all(s.likelihood.values > 0.0) and np.max(s.likelihood.values) == 1.0


def test_surface_inference_data_works_with_arviz():
    fine = pl.surface(pl.Normal(X), {"mu": np.arange(160.0, 176.0, 0.05)}, {"sigma": 5.0})
    idata = fine.to_inference_data(draws=20000, seed=1)
    assert set(idata.groups()) == {"posterior", "likelihood_surface"}
    summ = az.summary(idata, kind="stats", round_to="none")
    # flat-prior posterior of mu with sigma known: N(168, 5 / sqrt(10))
    np.testing.assert_allclose(summ.loc["mu", "mean"], 168.0, atol=0.05)
    np.testing.assert_allclose(summ.loc["mu", "sd"], 5 / np.sqrt(10), rtol=0.03)
    hdi = az.hdi(idata, hdi_prob=0.95)["mu"].values
    np.testing.assert_allclose(hdi, [168 - 1.96 * 5 / np.sqrt(10), 168 + 1.96 * 5 / np.sqrt(10)], atol=0.1)


def test_result_inference_data_groups():
    res = pl.mle(pl.Normal(X))
    idata = res.to_inference_data(draws=10000, seed=2)
    assert set(idata.groups()) == {"posterior", "mle", "likelihood_surface"}
    np.testing.assert_allclose(idata.mle["estimate"].values, [168.0, np.sqrt(22.4)], rtol=1e-9)
    np.testing.assert_allclose(idata.mle["cov"].values, res.cov.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(float(idata.posterior["mu"].mean()), 168.0, atol=0.1)
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(40, 3))
    big = pl.mle(pl.LinearRegression(Xr, Xr @ [1.0, 2.0, 3.0] + rng.normal(size=40)))
    idata = big.to_inference_data(draws=20000, seed=0)
    assert idata.posterior.attrs["source"] == "large-sample normal approximation N(MLE, cov)"
    np.testing.assert_allclose(
        idata.posterior["beta"].std(("chain", "draw")).values, big.se["beta"], rtol=0.03
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {"tau": [1.0]}}, r"`grid` names unknown parameter 'tau'"),
        ({"grid": {}}, r"`grid` must map one or two parameter names"),
        ({"grid": {"mu": []}}, r"`grid\['mu'\]` must be a non-empty array of finite numbers"),
        ({"grid": {"mu": [1.0]}, "fixed": {"tau": 1.0}}, r"`fixed` names unknown parameter 'tau'"),
        ({"grid": {"mu": [1.0]}, "chunk_size": 0}, r"`chunk_size` must be a whole number >= 1; got 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pl.surface(pl.Normal(X), **kwargs)


def test_categorical_element_grid_is_refused():
    with pytest.raises(ValueError, match=r"grid over 'p\[a\]' alone is not defined"):
        pl.surface(pl.Categorical(list("aabc")), {"p[a]": [0.2, 0.5]})
