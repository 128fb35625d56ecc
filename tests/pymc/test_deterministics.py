"""A pm.Model's Deterministics reported as derived quantities: mle(report=...), delta-method SEs,
profile intervals, and every consumer of a result's parameters.

References are computed here without pplmle: the Weibull MLE from its score equation (and
scipy's fit), its covariance from a central-difference Hessian of a hand-written NLL, its profile
with scipy; the logistic regression from statsmodels; the covariance of normal data in closed
form.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
import scipy.optimize
import scipy.special
import scipy.stats as st

import pplmle as pl

# -- Weibull survival times (the PyMC docs' log-linear parameterization), uncensored ------------------


def _weibull_data() -> np.ndarray:
    return st.weibull_min.rvs(1.7, scale=3.0, size=200, random_state=np.random.default_rng(7))


def _weibull_model(y: np.ndarray) -> pm.Model:
    with pm.Model() as model:
        times = pm.Data("times", y)
        log_alpha = pm.Normal("log_alpha", 0.0, 5.0)
        log_beta = pm.Normal("log_beta", 0.0, 5.0)
        alpha = pm.Deterministic("alpha", pt.exp(log_alpha))
        beta = pm.Deterministic("beta", pt.exp(log_beta))
        pm.Weibull("y", alpha=alpha, beta=beta, observed=times)
    return model


def _weibull_nll(log_alpha: float, log_beta: float, y: np.ndarray) -> float:
    """The Weibull NLL written out: density k/l (x/l)^(k-1) exp(-(x/l)^k)."""
    k, lam = np.exp(log_alpha), np.exp(log_beta)
    z = y / lam
    return -float(np.sum(np.log(k) - np.log(lam) + (k - 1.0) * np.log(z) - z**k))


def _weibull_reference(y: np.ndarray) -> tuple[float, float]:
    """Shape and scale from the profile score equation 1/k + mean(log x) = sum x^k log x / sum x^k."""
    logy = np.log(y)

    def score(k: float) -> float:
        w = y**k
        return 1.0 / k + logy.mean() - np.sum(w * logy) / np.sum(w)

    k = scipy.optimize.brentq(score, 0.05, 50.0, xtol=1e-14, rtol=1e-15)
    return k, float(np.mean(y**k) ** (1.0 / k))


def _hessian(f, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of f at x."""
    k = x.size
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            H[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
    return 0.5 * (H + H.T)


@pytest.fixture(scope="module")
def weibull():
    y = _weibull_data()
    model = _weibull_model(y)
    return y, model, pl.mle(model, strict=True)


def test_weibull_estimates_match_scipy_and_the_score_equation(weibull):
    y, _, res = weibull

    # scipy's fit with its default Nelder-Mead tolerances is good to 2e-5 only: tightened
    def tight(func, x0, args=(), disp=0):
        return scipy.optimize.fmin(func, x0, args=args, xtol=1e-12, ftol=1e-14, maxiter=20000, disp=disp)

    shape, _, scale = st.weibull_min.fit(y, floc=0, optimizer=tight)
    k, lam = _weibull_reference(y)
    assert res.derived == ("alpha", "beta")
    for got, ref in ((res.params["alpha"], k), (res.params["beta"], lam)):
        np.testing.assert_allclose(got, ref, rtol=1e-8)
    np.testing.assert_allclose([res.params["alpha"], res.params["beta"]], [shape, scale], rtol=1e-6)
    nll_scipy = _weibull_nll(np.log(shape), np.log(scale), y)
    assert res.nll <= nll_scipy + 1e-12 * abs(nll_scipy)
    np.testing.assert_allclose(res.nll, _weibull_nll(np.log(k), np.log(lam), y), rtol=1e-12)
    np.testing.assert_allclose(res.params["alpha"], np.exp(res.params["log_alpha"]), rtol=1e-14)
    assert res.n_params == 2  # AIC and BIC count the free parameters only
    np.testing.assert_allclose(res.aic, 4.0 + 2 * res.nll, rtol=1e-14)


def test_weibull_delta_method_standard_errors_match_a_difference_hessian(weibull):
    y, _, res = weibull
    k, lam = _weibull_reference(y)
    x = np.log([k, lam])
    cov_log = np.linalg.inv(_hessian(lambda v: _weibull_nll(v[0], v[1], y), x))
    # delta method: d(alpha, beta) / d(log alpha, log beta) = diag(alpha, beta)
    G = np.diag([k, lam])
    cov_nat = G @ cov_log @ G.T
    np.testing.assert_allclose(
        [res.se["log_alpha"], res.se["log_beta"]], np.sqrt(np.diag(cov_log)), rtol=1e-4
    )
    np.testing.assert_allclose([res.se["alpha"], res.se["beta"]], np.sqrt(np.diag(cov_nat)), rtol=1e-4)
    cov = res.cov.loc[["log_alpha", "log_beta", "alpha", "beta"], ["log_alpha", "log_beta", "alpha", "beta"]]
    full = np.block([[cov_log, cov_log @ G.T], [G @ cov_log, cov_nat]])
    np.testing.assert_allclose(cov.to_numpy(), full, rtol=1e-4)


def test_weibull_profile_interval_of_a_deterministic_matches_scipy(weibull):
    y, _, res = weibull
    k, lam = _weibull_reference(y)
    nll_hat = _weibull_nll(np.log(k), np.log(lam), y)
    cut = st.chi2.ppf(0.95, 1)

    def profile_nll(a: float) -> float:
        inner = scipy.optimize.minimize_scalar(
            lambda lb: _weibull_nll(np.log(a), lb, y),
            bracket=(np.log(lam) - 0.5, np.log(lam) + 0.5),
            tol=1e-12,
        )
        return float(inner.fun)

    se = float(res.se["alpha"])
    ends = [
        scipy.optimize.brentq(
            lambda a: 2 * (profile_nll(a) - nll_hat) - cut, k, k + side * 5 * se, xtol=1e-12
        )
        for side in (-1.0, 1.0)
    ]
    got = res.conf_int(method="profile", params=["alpha"])
    np.testing.assert_allclose(got.loc["alpha"].to_numpy(), ends, rtol=1e-6)
    # the profile of alpha is the profile of log_alpha, mapped by exp (invariance)
    log_ends = res.conf_int(method="profile", params="log_alpha").loc["log_alpha"].to_numpy()
    np.testing.assert_allclose(np.exp(log_ends), ends, rtol=1e-6)


def test_weibull_table_marks_the_derived_rows(weibull):
    _, _, res = weibull
    table = res.table()
    assert table.index.tolist() == ["log_alpha", "log_beta", "alpha", "beta"]
    assert table["derived"].tolist() == [False, False, True, True]
    assert list(table.columns[:4]) == ["estimate", "se", "lower 95%", "upper 95%"]
    assert res.derived_labels == ["alpha", "beta"] and res.free_labels == ["log_alpha", "log_beta"]


def test_nllf_ignores_consistent_derived_values_and_refuses_others(weibull):
    _, _, res = weibull
    np.testing.assert_allclose(res.nllf(res.params), -res.loglik, rtol=1e-13)
    np.testing.assert_allclose(res.nllf(), -res.loglik, rtol=1e-13)
    free = {"log_alpha": res.params["log_alpha"] + 0.01, "log_beta": res.params["log_beta"]}
    y = _weibull_data()
    np.testing.assert_allclose(
        res.nllf(free), _weibull_nll(free["log_alpha"], free["log_beta"], y), rtol=1e-12
    )
    with pytest.raises(ValueError, match=r"`params\['alpha'\]` is a Deterministic of the free parameters"):
        res.nllf({**res.params, "alpha": 2.0})


def test_result_with_derived_quantities_pickles_and_compares_equal(weibull):
    _, _, res = weibull
    back = pickle.loads(pickle.dumps(res))
    assert back == res and back.derived == ("alpha", "beta")
    np.testing.assert_allclose(back.nllf(back.params), -res.loglik, rtol=1e-13)
    assert pl.mle(_weibull_model(_weibull_data()), report=()) != res


def test_surface_over_a_derived_quantity_says_to_profile(weibull):
    _, _, res = weibull
    with pytest.raises(ValueError, match=r"`grid` names 'alpha', a Deterministic .* Use its profile"):
        pl.surface(res, {"alpha": np.linspace(1.5, 2.0, 5)})
    with pytest.raises(ValueError, match=r"`fixed` names 'beta', a Deterministic"):
        pl.surface(res, {"log_alpha": np.linspace(0.4, 0.6, 5)}, {"beta": 3.0})
    with pytest.raises(ValueError, match=r"`y` names 'beta', a Deterministic"):
        pl.joint_region(res, "log_alpha", "beta")
    # over the free parameters a surface ignores the derived ones
    surf = pl.surface(res, {"log_alpha": [float(res.params["log_alpha"])]})
    np.testing.assert_allclose(float(surf.loglik.values[0]), res.loglik, rtol=1e-12)
    region = pl.joint_region(res, "log_alpha", "log_beta", n=12)
    assert region.ellipse is not None and set(region.fixed) == set()


def test_inference_data_draws_the_free_parameters_and_computes_the_deterministics(weibull):
    _, _, res = weibull
    idata = res.to_inference_data(draws=300, seed=1)
    post = idata.posterior
    assert {"log_alpha", "log_beta", "alpha", "beta"} <= set(post.data_vars)
    np.testing.assert_allclose(post["alpha"].values, np.exp(post["log_alpha"].values), rtol=1e-12)
    np.testing.assert_allclose(post["beta"].values, np.exp(post["log_beta"].values), rtol=1e-12)
    assert list(idata.mle["parameter"].values) == res.labels


def test_bootstrap_reports_the_derived_quantities_of_every_replicate(weibull):
    _, _, res = weibull
    boot = res.bootstrap(reps=6, seed=3, progressbar=False)
    est = boot.estimates
    np.testing.assert_allclose(est["alpha"], np.exp(est["log_alpha"]), rtol=1e-12)
    assert boot.table.index.tolist() == res.labels
    assert boot.table.loc["alpha", "used"] == 6


def test_compare_checks_the_free_parameters_of_a_model_with_deterministics(weibull):
    y, model, _ = weibull
    cmp = pl.compare(model, nll=lambda p: _weibull_nll(p["log_alpha"], p["log_beta"], y))
    assert cmp.agree and cmp.result.derived == ()


# -- logistic regression: odds = exp(beta) -----------------------------------------------------------


@pytest.fixture(scope="module")
def logistic():
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    n = 300
    X = rng.normal(size=(n, 2))
    y = rng.binomial(1, scipy.special.expit(-0.3 + X @ np.array([0.8, -0.5])))
    with pm.Model(coords={"coef": ["x1", "x2"]}) as model:
        intercept = pm.Normal("intercept", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, dims="coef")
        pm.Deterministic("odds", pt.exp(beta), dims="coef")
        mu = pm.Deterministic("mu", intercept + pt.dot(X, beta))
        pm.Bernoulli("y", logit_p=mu, observed=y)
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12)
    return X, model, pl.mle(model, strict=True), ref


def test_odds_standard_error_is_exp_beta_times_se_beta(logistic):
    _, _, res, ref = logistic
    np.testing.assert_allclose(res.params["beta"], ref.params[1:], rtol=1e-6)
    np.testing.assert_allclose(res.se["beta"], ref.bse[1:], rtol=1e-6)
    np.testing.assert_allclose(res.params["odds"], np.exp(ref.params[1:]), rtol=1e-6)
    np.testing.assert_allclose(res.se["odds"], np.exp(ref.params[1:]) * ref.bse[1:], rtol=1e-6)
    assert res.derived_labels == ["odds[x1]", "odds[x2]"]  # labelled from the model's coords


def test_default_report_leaves_out_a_deterministic_as_large_as_the_data(logistic):
    X, model, res, ref = logistic
    assert res.derived == ("odds",) and "mu" not in res.params
    full = pl.mle(model, report=["mu"])
    assert full.derived == ("mu",) and "odds" not in full.params
    assert full.params["mu"].shape == (300,) and full.n_params == 3
    X1 = np.column_stack([np.ones(len(X)), X])
    np.testing.assert_allclose(full.params["mu"], X1 @ ref.params, rtol=1e-6, atol=1e-8)
    se_ref = np.sqrt(np.einsum("ij,jk,ik->i", X1, ref.cov_params(), X1))
    np.testing.assert_allclose(full.se["mu"], se_ref, rtol=1e-5)
    assert pl.mle(model, report=()).derived == ()


def test_inference_data_of_a_vector_deterministic_keeps_the_models_dims(logistic):
    _, _, res, _ = logistic
    idata = res.to_inference_data(draws=200, seed=0)
    post = idata.posterior
    assert post["odds"].dims == ("chain", "draw", "coef")
    assert post["odds"].coords["coef"].values.tolist() == ["x1", "x2"]
    np.testing.assert_allclose(post["odds"].values, np.exp(post["beta"].values), rtol=1e-12)


def test_map_estimate_reports_deterministics_too(logistic):
    _, model, _, _ = logistic
    res = pl.map_estimate(model)
    assert res.derived == ("odds",)
    np.testing.assert_allclose(res.params["odds"], np.exp(res.params["beta"]), rtol=1e-12)
    np.testing.assert_allclose(res.se["odds"], np.exp(res.params["beta"]) * res.se["beta"], rtol=1e-9)


# -- LKJCholeskyCov: the MLE of a covariance is the sample covariance -----------------------------------


@pytest.fixture(scope="module")
def lkj():
    rng = np.random.default_rng(5)
    C = np.array([[1.0, 0.5, -0.3], [0.5, 2.0, 0.4], [-0.3, 0.4, 1.5]])
    Y = rng.multivariate_normal([1.0, -1.0, 0.5], C, size=300)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0, shape=3)
        chol, corr, stds = pm.LKJCholeskyCov(
            "chol", n=3, eta=2.0, sd_dist=pm.Exponential.dist(1.0), compute_corr=True
        )
        pm.Deterministic("stds", stds)
        pm.Deterministic("corr", corr)
        pm.Deterministic("sq", pt.sum((Y - mu) ** 2, axis=1))  # one per observation
        pm.MvNormal("y", mu, chol=chol, observed=Y)
    return Y, pl.mle(model, strict=True)


def test_lkj_stds_and_correlations_are_those_of_the_sample_covariance(lkj):
    Y, res = lkj
    S = np.cov(Y.T, bias=True)  # divisor n: the MLE
    sd = np.sqrt(np.diag(S))
    np.testing.assert_allclose(res.params["mu"], Y.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.params["stds"], sd, rtol=1e-6)
    np.testing.assert_allclose(res.params["corr"], S / np.outer(sd, sd), rtol=1e-6, atol=1e-9)
    assert {"stds", "corr"} <= set(res.derived) and "sq" not in res.params
    assert res.n_params == 3 + 6
    assert np.all(np.isfinite(res.se["stds"]))
    # the large-sample sd of a sample sd is sd / sqrt(2n)
    np.testing.assert_allclose(res.se["stds"], sd / np.sqrt(2 * len(Y)), rtol=1e-6)
    # and of a correlation (1 - r^2) / sqrt(n): at the MLE the observed information is Fisher's
    r = S[0, 1] / (sd[0] * sd[1])
    np.testing.assert_allclose(res.se["corr"][0, 1], (1 - r**2) / np.sqrt(len(Y)), rtol=1e-6)


# -- flags propagate to the Deterministics that depend on a flagged parameter -------------------------


def test_a_flagged_parameter_gives_nan_se_to_the_deterministics_that_depend_on_it():
    with pm.Model() as model:
        p = pm.Beta("p", 2.0, 2.0)
        pm.Binomial("k", n=10, p=p, observed=np.array([10, 10]))
        pm.Deterministic("logit_p", pt.log(p) - pt.log1p(-p))
        pm.Deterministic("trials", pt.as_tensor(10.0) + 0.0 * p)  # constant in p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pl.PPLMLEWarning)
        res = pl.mle(model)
    # the MLE is the bound of p's support, held there exactly (pplmle/pymc/bounds.py)
    assert res.flags["p"] == "boundary: = 1 (upper bound)" and res.params["p"] == 1.0
    assert np.isnan(res.se["p"]) and np.isnan(res.se["logit_p"])
    assert res.flags["logit_p"] == "depends on flagged p"
    assert res.se["trials"] == 0.0 and "trials" not in res.flags
    assert np.isnan(res.cov.loc["logit_p", "trials"])
    assert res.table().loc["logit_p", "flag"] == "depends on flagged p"


def test_dependence_on_a_flagged_parameter_is_element_by_element():
    from pplmle.pymc.fitting import _dependent

    jac_p = np.array([[2.0, 0.0], [0.5, 1.0]])  # free values theta(u)
    dh = np.array([[3.0, 0.0], [0.0, -1.0], [1.0, 1e-14]])  # d derived / d theta
    assert _dependent(jac_p, dh @ jac_p, [0]) == {0: [0], 2: [0]}
    assert _dependent(jac_p, dh @ jac_p, [1]) == {1: [1]}
    assert _dependent(jac_p, dh @ jac_p, []) == {}
    assert _dependent(jac_p, np.full((1, 2), np.nan), [1]) == {0: [1]}


# -- bad report= ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "match"),
    [
        ("alpha", r"`report` must be None .* a list of names .*; got 'alpha'\."),
        (5, r"`report` must be None .*; got 5\."),
        ([1, "alpha"], r"`report` must be None .*: every name a string; got \[1\]\."),
        (["nope"], r"`report` must be None .*; got \['nope'\], which the model does not have\. "),
        (["log_alpha"], r"; got \['log_alpha'\], free variable\(s\), which are always reported"),
        (["y"], r"; got \['y'\], observed variable\(s\) or data"),
        (["times"], r"; got \['times'\], observed variable\(s\) or data"),
    ],
)
def test_bad_report_is_refused_with_the_rule_and_the_value(weibull, report, match):
    _, model, _ = weibull
    with pytest.raises(ValueError, match=match):
        pl.mle(model, report=report)
    with pytest.raises(ValueError, match=r"The model's Deterministics are \['alpha', 'beta'\]|`report` must"):
        pl.map_estimate(model, report=report)


def test_a_family_refuses_report():
    with pytest.raises(ValueError, match=r"`report` must be None for a family .*; got \['mu'\]\."):
        pl.mle(pl.Normal(pl.datasets.heights()), report=["mu"])
    assert isinstance(pl.mle(pl.Normal(pl.datasets.heights()), report=None).table(), pd.DataFrame)
