"""An MLE on the edge of a user model's support is held there exactly and flagged.

References are closed forms and scipy fits of hand-written likelihoods (bounded L-BFGS-B from
several starts), never pplmle itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pymc as pm
import pytest
from scipy import optimize, stats

import pplmle as pl
from pplmle.core.diagnostics import Diagnostic
from pplmle.core.errors import BoundaryWarning, EstimationError, PPLMLEWarning


class _Caught(list):
    """The pplmle warnings of a fit: ``BoundaryWarning in caught``, and their texts."""

    def __init__(self, records):
        super().__init__(w.category for w in records if issubclass(w.category, PPLMLEWarning))
        self.text = " ".join(str(w.message) for w in records if issubclass(w.category, PPLMLEWarning))


def _fit(model, fit=pl.mle, **kwargs):
    """The result and the pplmle warnings it raised."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always", PPLMLEWarning)
        result = fit(model, **kwargs)
    return result, _Caught(records)


def _scipy_min(nll, starts, bounds):
    """The best of bounded L-BFGS-B fits from several starts: (x, fun)."""
    fits = [optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds) for x0 in starts]
    best = min(fits, key=lambda f: f.fun)
    return best.x, best.fun


def _binomial(k: int, n: int = 10, upper: float = 0.5) -> pm.Model:
    with pm.Model() as model:
        p = pm.Uniform("p", 0.0, upper)
        pm.Binomial("k", n=n, p=p, observed=k)
    return model


# -- a probability capped at 0.5 --------------------------------------------------------------


@pytest.fixture(scope="module")
def capped():
    model = _binomial(8)
    return model, *_fit(model)


def test_binomial_mle_on_the_upper_bound_is_exact_and_flagged(capped):
    _model, res, caught = capped
    # before: p = 0.49999999999999734, se 1.5e-8, converged, no flag
    assert res.params["p"] == 0.5
    assert np.isnan(res.se["p"]) and np.isnan(res.cov.loc["p", "p"])
    assert res.converged and "boundary" in res.message
    assert res.diagnostics == (Diagnostic.BOUNDARY,)
    assert BoundaryWarning in caught
    assert res.flags == {"p": "boundary: = 0.5 (upper bound)"}
    assert res.table().loc["p", "flag"] == "boundary: = 0.5 (upper bound)"
    np.testing.assert_allclose(res.loglik, stats.binom.logpmf(8, 10, 0.5), rtol=1e-12)
    # scipy agrees that the likelihood keeps increasing up to the bound
    x, _ = _scipy_min(lambda q: -stats.binom.logpmf(8, 10, q[0]), [[0.1], [0.3], [0.45]], [(1e-12, 0.5)])
    assert x[0] == pytest.approx(0.5, abs=1e-8)


def test_profile_interval_of_the_held_parameter_ends_at_the_bound(capped):
    _, res, _ = capped
    ci = res.conf_int(method="profile")
    drop = stats.chi2.ppf(0.95, 1) / 2 - stats.binom.logpmf(8, 10, 0.5)
    lower = optimize.brentq(lambda q: -stats.binom.logpmf(8, 10, q) - drop, 0.1, 0.5 - 1e-9)
    np.testing.assert_allclose(ci.loc["p", "lower"], lower, rtol=1e-8)
    assert ci.loc["p", "upper"] == 0.5


def test_strict_raises_on_the_bound(capped):
    model, _, _ = capped
    with pytest.raises(EstimationError, match="boundary of the support"):
        pl.mle(model, strict=True)


def test_several_starts_agree_on_the_bound(capped):
    model, _, _ = capped
    res, _caught = _fit(model, n_starts=3, seed=1)
    assert res.params["p"] == 0.5 and res.same_optimum
    assert Diagnostic.MULTIPLE_OPTIMA not in res.diagnostics


def test_map_with_a_flat_prior_is_on_the_bound_too(capped):
    model, _, _ = capped
    res, caught = _fit(model, fit=pl.map_estimate)
    assert res.method == "MAP" and res.params["p"] == 0.5 and np.isnan(res.se["p"])
    assert res.converged and Diagnostic.BOUNDARY in res.diagnostics and BoundaryWarning in caught


def test_interior_binomial_is_clean():
    res, caught = _fit(_binomial(2))
    assert res.converged and res.diagnostics == () and not caught and res.flags == {}
    np.testing.assert_allclose(res.params["p"], 0.2, rtol=1e-9)
    np.testing.assert_allclose(res.se["p"], np.sqrt(0.2 * 0.8 / 10), rtol=1e-6)


def test_interior_optimum_just_inside_the_bound_is_not_flagged():
    # p-hat = 0.4999: 1e-4 inside the bound, 0.02 of its standard error
    res, caught = _fit(_binomial(4999, n=10000))
    assert res.converged and res.diagnostics == () and not caught
    np.testing.assert_allclose(res.params["p"], 0.4999, rtol=1e-9)
    np.testing.assert_allclose(res.se["p"], np.sqrt(0.4999 * 0.5001 / 10000), rtol=1e-6)


# -- zero inflation that the data do not want -------------------------------------------------


@pytest.fixture(scope="module")
def zip_fit():
    rng = np.random.default_rng(1)
    y = rng.poisson(3.0, 400)
    y = np.concatenate([y[y > 0][:150], np.zeros(3, dtype=int)])  # 3 zeros, Poisson expects ~7
    with pm.Model() as model:
        psi = pm.Uniform("psi", 0.0, 1.0)
        mu = pm.HalfFlat("mu")
        pm.ZeroInflatedPoisson("y", psi=psi, mu=mu, observed=y)
    return y, *_fit(model)


def test_zero_inflation_at_its_bound_is_plain_poisson(zip_fit):
    y, res, caught = zip_fit
    assert np.sum(y == 0) < len(y) * np.exp(-y.mean())  # fewer zeros than Poisson predicts
    assert res.params["psi"] == 1.0 and np.isnan(res.se["psi"])
    assert np.isnan(res.cov.loc["psi", "mu"]) and np.isnan(res.cov.loc["mu", "psi"])
    # mu: the Poisson MLE, its SE the Poisson one (conditional on psi = 1)
    np.testing.assert_allclose(res.params["mu"], y.mean(), rtol=1e-9)
    np.testing.assert_allclose(res.se["mu"], np.sqrt(y.mean() / len(y)), rtol=1e-6)
    np.testing.assert_allclose(res.loglik, stats.poisson.logpmf(y, y.mean()).sum(), rtol=1e-12)
    assert res.converged and res.flags == {"psi": "boundary: = 1 (upper bound)"}
    assert BoundaryWarning in caught and "['mu'] are conditional on psi held there" in caught.text

    def nll(q):  # the zero-inflated Poisson written out: psi is the weight of the Poisson part
        psi, mu = q
        zero = np.log(1 - psi + psi * np.exp(-mu))
        return -np.sum(np.where(y == 0, zero, np.log(psi) + stats.poisson.logpmf(y, mu)))

    x, f = _scipy_min(nll, [[0.5, 2.0], [0.9, 3.0], [0.99, 5.0]], [(1e-9, 1.0), (1e-6, 50.0)])
    np.testing.assert_allclose(x, [1.0, y.mean()], atol=1e-5)
    assert -res.loglik <= f + 1e-9


# -- bounds from data, two at once, and a lower bound -------------------------------------------


@pytest.fixture(scope="module")
def data_bounds():
    rng = np.random.default_rng(2)
    y1, y2 = rng.normal(2.7, 1.0, 40), rng.normal(-0.5, 1.0, 30)
    with pm.Model() as model:
        a = pm.Data("a", 1.0)
        b = pm.Data("b", 2.0)
        c = pm.Data("c", 0.0)
        m1 = pm.Uniform("m1", lower=a, upper=b)
        m2 = pm.TruncatedNormal("m2", mu=0.0, sigma=1.0, lower=c)
        pm.Normal("y1", m1, 1.0, observed=y1)
        pm.Normal("y2", m2, 1.0, observed=y2)
    return model, y1, y2, *_fit(model)


def test_two_bounds_given_by_data_are_both_held(data_bounds):
    _model, y1, y2, res, _caught = data_bounds
    assert y1.mean() > 2.0 and y2.mean() < 0.0
    assert res.params == {"m1": 2.0, "m2": 0.0}
    assert np.all(np.isnan(res.cov.to_numpy()))
    assert res.flags == {"m1": "boundary: = 2 (upper bound)", "m2": "boundary: = 0 (lower bound)"}
    assert res.converged and res.diagnostics == (Diagnostic.BOUNDARY,)
    expected = stats.norm.logpdf(y1, 2.0).sum() + stats.norm.logpdf(y2, 0.0).sum()
    np.testing.assert_allclose(res.loglik, expected, rtol=1e-12)


def test_the_bounds_follow_new_data(data_bounds):
    model, y1, y2, _, _ = data_bounds
    with model:
        pm.set_data({"b": 5.0, "c": -3.0})
    try:
        res, caught = _fit(model)
    finally:
        with model:
            pm.set_data({"b": 2.0, "c": 0.0})
    assert res.converged and res.diagnostics == () and not caught
    np.testing.assert_allclose([res.params["m1"], res.params["m2"]], [y1.mean(), y2.mean()], rtol=1e-9)
    np.testing.assert_allclose([res.se["m1"], res.se["m2"]], [1 / np.sqrt(40), 1 / np.sqrt(30)], rtol=1e-6)


def test_lower_bound_with_a_free_scale():
    rng = np.random.default_rng(3)
    y = rng.normal(1.5, 0.8, 60)
    with pm.Model() as model:
        c = pm.Uniform("c", 2.0, 10.0)
        sigma = pm.HalfFlat("sigma")
        pm.Normal("y", c, sigma, observed=y)
    res, caught = _fit(model)
    s = np.sqrt(np.mean((y - 2.0) ** 2))  # the MLE of sigma with the mean at 2
    assert res.params["c"] == 2.0 and np.isnan(res.se["c"])
    np.testing.assert_allclose(res.params["sigma"], s, rtol=1e-9)
    np.testing.assert_allclose(res.se["sigma"], s / np.sqrt(2 * len(y)), rtol=1e-6)
    assert res.converged and BoundaryWarning in caught
    x, _ = _scipy_min(
        lambda q: -stats.norm.logpdf(y, q[0], q[1]).sum(), [[3.0, 1.0], [5.0, 2.0]], [(2.0, 10.0), (1e-3, 10)]
    )
    np.testing.assert_allclose(x, [2.0, s], rtol=1e-5)


# -- a bound that is another free variable ------------------------------------------------------


def test_bound_given_by_another_free_variable_is_held_on_it():
    # p <= theta, but the second group succeeds more often: the MLE has p = theta = the pooled rate
    with pm.Model() as model:
        theta = pm.Uniform("theta", 0.0, 1.0)
        p = pm.Uniform("p", 0.0, theta)
        pm.Binomial("k1", n=100, p=theta, observed=30)
        pm.Binomial("k2", n=100, p=p, observed=60)
    res, caught = _fit(model)
    assert res.params["p"] == res.params["theta"]
    np.testing.assert_allclose(res.params["theta"], 0.45, rtol=1e-9)
    # theta's SE given p = theta: the pooled binomial's
    np.testing.assert_allclose(res.se["theta"], np.sqrt(0.45 * 0.55 / 200), rtol=1e-6)
    assert np.isnan(res.se["p"]) and res.converged and BoundaryWarning in caught
    assert res.flags == {"p": "boundary: = 0.45 (upper bound)"}

    def nll(q):
        t, r = q
        return -(stats.binom.logpmf(30, 100, t) + stats.binom.logpmf(60, 100, r * t))

    x, _ = _scipy_min(nll, [[0.5, 0.5], [0.8, 0.9], [0.3, 0.2]], [(1e-6, 1 - 1e-6), (1e-6, 1.0)])
    np.testing.assert_allclose([x[0], x[0] * x[1]], [0.45, 0.45], atol=1e-5)


def test_a_variance_component_at_zero():
    # y ~ N(0, 1 + tau^2) with a sample variance below 1: the MLE is tau = 0
    rng = np.random.default_rng(3)
    y = rng.normal(0.0, 0.9, 100)
    y = y / np.sqrt(np.mean(y**2)) * 0.9
    with pm.Model() as model:
        tau = pm.HalfFlat("tau")
        pm.Normal("y", 0.0, pm.math.sqrt(1.0 + tau**2), observed=y)
    res, _caught = _fit(model)
    assert res.params["tau"] == 0.0 and np.isnan(res.se["tau"])
    assert res.converged and res.flags == {"tau": "boundary: = 0 (lower bound)"}
    np.testing.assert_allclose(res.loglik, stats.norm.logpdf(y).sum(), rtol=1e-12)


# -- not a boundary ------------------------------------------------------------------------------


def test_sigma_to_zero_on_constant_data_is_still_an_unbounded_likelihood():
    with pm.Model() as model:
        mu = pm.Flat("mu")
        sigma = pm.HalfFlat("sigma")
        pm.Normal("y", mu, sigma, observed=np.full(8, 3.0))
    res, _ = _fit(model)
    assert Diagnostic.UNBOUNDED in res.diagnostics and Diagnostic.BOUNDARY not in res.diagnostics
    assert not res.converged


def test_the_support_of_the_likelihood_bounding_a_parameter_is_not_a_clean_fit():
    # y ~ Uniform(lo, hi): the MLE is (min y, max y), where the likelihood drops to 0 just past
    # it. No transform bounds lo or hi (pplmle reads the supports of the free variables, not
    # of the likelihood): the fit is reported as not converged, without standard errors.
    y = np.random.default_rng(4).uniform(1.0, 3.0, 50)
    with pm.Model() as model:
        pm.Uniform("y", lower=pm.Flat("lo"), upper=pm.Flat("hi"), observed=y)
    res, _caught = _fit(model, start={"lo": 0.0, "hi": 4.0})
    assert not res.converged
    assert np.all(np.isnan([res.se["lo"], res.se["hi"]]))
    assert res.params["lo"] <= y.min() and res.params["hi"] >= y.max()
