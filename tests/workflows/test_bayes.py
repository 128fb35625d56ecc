"""MLE vs MAP vs posterior, and the parameterization effect (real pm.sample, real find_MAP)."""

import numpy as np
import pymc as pm
import pytest

import pplmle as pl

X = pl.datasets.heights()


def test_mode_on_the_log_sigma_scale_divides_by_n_minus_one():
    tab = pl.parameterization_effect(X)
    S = np.sum((X - X.mean()) ** 2)
    np.testing.assert_allclose(tab["sigma"].to_numpy(), [np.sqrt(S / 10), np.sqrt(S / 9)], rtol=1e-8)
    np.testing.assert_allclose(tab["sigma"].to_numpy(), tab["formula value"].to_numpy(), rtol=1e-8)
    with pytest.raises(ValueError, match=r"at least two different values for Normal"):
        pl.parameterization_effect([3.0, 3.0])


@pytest.fixture(scope="module")
def conjugate():
    """mu ~ N(160, 2), sigma known = 5: the posterior and MAP are known exactly."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 160.0, 2.0)
        pm.Normal("h", mu, 5.0, observed=X)
    return pl.bayes_vs_mle(model, draws=2000, tune=500, chains=2, random_seed=3)


def test_bayes_vs_mle_table_against_the_conjugate_answer(conjugate):
    tab = conjugate.table
    assert list(tab.columns) == [
        "MLE",
        "SE",
        "Wald lower",
        "Wald upper",
        "profile lower",
        "profile upper",
        "MAP",
        "mean",
        "sd",
        "hdi_2.5%",
        "hdi_97.5%",
        "r_hat",
    ]
    prec = 1 / 2.0**2 + 10 / 5.0**2
    post_mean = (160.0 / 4 + X.sum() / 25) / prec
    row = tab.loc["mu"]
    np.testing.assert_allclose(row["MLE"], 168.0, rtol=1e-10)
    np.testing.assert_allclose(row["SE"], 5 / np.sqrt(10), rtol=1e-6)
    np.testing.assert_allclose(row["MAP"], post_mean, rtol=1e-9)
    # Monte Carlo: 4000 draws, sd 1/sqrt(prec) ~ 1.21: the mean is good to ~0.05
    np.testing.assert_allclose(row["mean"], post_mean, atol=0.1)
    np.testing.assert_allclose(row["sd"], 1 / np.sqrt(prec), rtol=0.08)
    # known sigma: profile and Wald intervals coincide
    np.testing.assert_allclose(
        row[["profile lower", "profile upper"]], row[["Wald lower", "Wald upper"]], rtol=1e-9
    )
    assert row["MAP"] < row["MLE"]  # the prior at 160 pulls the MAP down


def test_bayes_vs_mle_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1; got 1.5"):
        pl.bayes_vs_mle(pl.Normal(X), level=1.5)
    with pytest.raises(ValueError, match=r"`draws` must be a whole number >= 1; got 0"):
        pl.bayes_vs_mle(pl.Normal(X), draws=0)


def test_posterior_and_likelihood_against_the_conjugate_answer(conjugate):
    """sigma known: the normalized likelihood of mu is the density of N(168, 5 / sqrt(10))."""
    import pickle

    import arviz as az
    import scipy.stats
    from arviz.stats.density_utils import kde

    from pplmle.workflows.bayes import posterior_and_likelihood

    d = posterior_and_likelihood(conjugate, "mu")
    se = 5 / np.sqrt(10)
    c, lik = d.likelihood_grid, d.likelihood_density
    assert c.size == 161 and np.trapezoid(lik, c) == pytest.approx(1.0, rel=1e-12)
    # the grid is the profile interval at level 1 - 1e-6: 168 +/- z se
    z = np.sqrt(scipy.stats.chi2.ppf(1 - 1e-6, 1))
    np.testing.assert_allclose([c[0], c[-1]], [168 - z * se, 168 + z * se], rtol=1e-9)
    # normalized by trapezoids over that grid, not over the whole line: 1e-6 of the mass is left out
    np.testing.assert_allclose(lik, scipy.stats.norm.pdf(c, 168.0, se), rtol=1e-5)
    draws = conjugate.idata.posterior["mu"].values.ravel()
    grid, pdf = kde(draws)
    np.testing.assert_array_equal(d.posterior_grid, grid)
    np.testing.assert_array_equal(d.posterior_density, pdf)
    assert d.hdi == tuple(az.hdi(draws, hdi_prob=0.95)) and d.n_draws == 4000 and d.level == 0.95
    # the conjugate posterior N(post_mean, 1 / sqrt(prec)), up to Monte Carlo and kernel smoothing
    prec = 1 / 2.0**2 + 10 / 5.0**2
    post_mean = (160.0 / 4 + X.sum() / 25) / prec
    np.testing.assert_allclose(
        np.interp(post_mean, grid, pdf), scipy.stats.norm.pdf(0, 0, 1 / np.sqrt(prec)), rtol=0.1
    )
    assert d.mle == conjugate.mle.params["mu"] and d.map == pytest.approx(post_mean, rel=1e-9)
    assert d == posterior_and_likelihood(conjugate, "mu") and pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(ValueError, match=r"`name` must be one of the result's parameters \['mu'\]"):
        posterior_and_likelihood(conjugate, "sigma")
